"""Is an email's HTML part well-formed? html5lib in strict mode reports the first parse error."""

from __future__ import annotations

import html5lib
from html5lib.html5parser import ParseError


def html_problem(markup: str) -> str | None:
    """A plain-English description of the first error in `markup`, or None when it parses.

    The markup is read as a fragment (the body of a message), so a doctype is not required.
    The answer never quotes the markup: it can hold PHI.
    """
    parser = html5lib.HTMLParser(strict=True)
    try:
        parser.parseFragment(markup)
    except ParseError as exc:
        line, column = parser.errors[-1][0] if parser.errors else (None, None)
        where = f" at line {line}, column {column}" if line is not None else ""
        return f"is not well-formed HTML{where}: {str(exc).rstrip('.')}"
    return None
