"""structlog set-up: JSON lines in production, readable lines in development; standard logging
(uvicorn, Huey, the SDKs) through one handler, as JSON too when the product's lines are; exceptions
by frames and type, never their text. What is bound to the context (the request id, a job's name)
is on every line written while it is bound, the libraries' lines included."""

from __future__ import annotations

import logging
import sys
import traceback

import structlog

# Provider SDKs log each request: Twilio's its query (phone numbers) and headers, SendGrid's its
# payload (addresses, bodies) and headers (the API key), msal its token events. Only their
# warnings may reach our logs. urllib3 (under requests) writes the request line at DEBUG and each
# retry at WARNING, query string included: only its errors.
QUIET_LOGGERS = {
    "twilio.http_client": logging.WARNING,
    "python_http_client": logging.WARNING,
    "msal": logging.WARNING,
    "urllib3": logging.ERROR,
    # Stripe's logs its errors' messages (part of the key); httpx (under openai) each URL.
    "stripe": logging.WARNING,
    "httpx": logging.WARNING,
    "openai": logging.WARNING,
}


def _type_name(exc: BaseException) -> str:
    """The exception's class, and the database's code for it when it has one (SQLITE_BUSY,
    SQLSTATE 23505): codes, never text."""
    kind = type(exc)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    code = getattr(exc, "sqlite_errorname", None) or getattr(exc, "sqlstate", None)
    return f"{module}{kind.__qualname__}" + (f" [{code}]" if isinstance(code, str) else "")


def traceback_without_text(exc: BaseException) -> str:
    """Where `exc` was raised and what it came from: frames (file, line, function) and exception
    types only. An exception's text, its locals and even its source line can hold what a client
    typed or the values a statement was given."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        cause = current.__cause__
        current = (
            cause if cause is not None or current.__suppress_context__ else current.__context__
        )
    blocks = []
    for item in reversed(chain):
        frames = "".join(
            f'  File "{frame.f_code.co_filename}", line {line}, in {frame.f_code.co_name}\n'
            for frame, line in traceback.walk_tb(item.__traceback__)
        )
        blocks.append(f"Traceback (most recent call last):\n{frames}{_type_name(item)}")
    return "\n\nwhich led to\n\n".join(blocks)


class WithoutExceptionText(logging.Filter):
    """On our log handler: every library's records (uvicorn's "Exception in ASGI application",
    Huey's "Unhandled exception in task", SQLAlchemy's) keep an exception's frames and type,
    never its text; an exception passed as an argument becomes its type's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            exc = record.exc_info[1]
            record.exc_text = traceback_without_text(exc) if exc is not None else None
            record.exc_info = None
        if isinstance(record.args, tuple):
            record.args = tuple(
                _type_name(arg) if isinstance(arg, BaseException) else arg for arg in record.args
            )
        if isinstance(record.msg, BaseException):
            record.msg = _type_name(record.msg)
        return True


def _exception_without_text(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """structlog's `exc_info=` rendered as traceback_without_text, with the error's type."""
    exc_info = event_dict.pop("exc_info", None)
    exc = sys.exc_info()[1] if exc_info is True else exc_info
    if isinstance(exc, tuple):
        exc = exc[1]
    if isinstance(exc, BaseException):
        event_dict.setdefault("error_type", type(exc).__name__)
        event_dict["exception"] = traceback_without_text(exc)
    return event_dict


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _library_exception(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A library's record whose exception WithoutExceptionText kept as frames and types."""
    record = event_dict.get("_record")
    exc_text = getattr(record, "exc_text", None)
    if exc_text:
        event_dict["exception"] = exc_text
    return event_dict


class _ReadableWithContext(logging.Formatter):
    """A library's line as `LEVEL logger message`, then what the context binds (request_id=…)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        bound = structlog.contextvars.get_contextvars()
        if not bound:
            return line
        first, newline, rest = line.partition("\n")
        pairs = " ".join(f"{key}={value}" for key, value in bound.items())
        return f"{first} {pairs}{newline}{rest}"


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _exception_without_text,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=lambda *_args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for installed in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(installed)
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _library_exception,
            ],
        )
        if json
        else _ReadableWithContext("%(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(WithoutExceptionText())
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's default logging config (a uvicorn.Config made with it, as the sandbox's
    # listeners are) gives its loggers handlers of their own, which write an exception's text:
    # uvicorn's lines go through the handler above instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.disabled = False
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
