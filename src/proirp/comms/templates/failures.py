"""Why a template could not be compiled or rendered, in the product's words.

Never the exception's own message: Jinja's and Python's messages can quote a value (a name in
`'Avery' is not in list`, a key in an undefined lookup). Only the kind of failure, Jinja's
syntax message (it quotes the template's grammar, never its text) and the template's line.
"""

from __future__ import annotations

from types import TracebackType

from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SecurityError

from proirp.comms.templates.limits import LimitExceeded

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (ZeroDivisionError, "it divides by zero"),
    (OverflowError, "it computes a number too large to use"),
    (RecursionError, "it calls itself too deeply"),
    (MemoryError, "it needs more memory than a message may"),
    (SecurityError, "it uses something not available in templates"),
    (UndefinedError, "it uses something that has no value"),
    (TemplateError, "it could not be rendered"),
    (TypeError, "it combines values of the wrong kind (TypeError)"),
    (ValueError, "it uses a value that does not fit (ValueError)"),
    (LookupError, "it looks up something that is not there"),
)


def _template_line(traceback: TracebackType | None) -> int | None:
    """The template's line where it failed (Jinja rewrites the traceback to name it)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def render_failure(exc: BaseException) -> str:
    """`it divides by zero (line 3)`: what went wrong while rendering, and where."""
    if isinstance(exc, LimitExceeded):
        reason = str(exc)
    else:
        reason = next(
            (words for kind, words in _KINDS if isinstance(exc, kind)),
            f"it could not be rendered ({type(exc).__name__})",
        )
    line = _template_line(exc.__traceback__)
    return f"{reason} (line {line})" if line is not None else reason


def syntax_failure(exc: BaseException) -> str:
    """Why the source does not compile: Jinja's message and line, or what the parser choked on."""
    if isinstance(exc, TemplateSyntaxError):
        message = " ".join((exc.message or "syntax error").split()).rstrip(".")
        return f"{message}, line {exc.lineno}"
    if isinstance(exc, RecursionError):
        return "it nests too deeply"
    if isinstance(exc, ValueError | OverflowError):
        return "it holds a number too long to read"  # an integer literal past Python's limit
    return f"it could not be read ({type(exc).__name__})"
