"""Is an email's HTML part well-formed? html5lib in strict mode stops at the first parse error."""

from __future__ import annotations

import html5lib
from html5lib.html5parser import ParseError


def html_problem(markup: str) -> str | None:
    """Where and what the first error in `markup` is, or None when it parses.

    The markup is read as a fragment (the body of a message), so a doctype is not required.
    The answer gives the parser's error code (`unexpected-end-tag`), never a tag name or any
    other text from the markup: it can hold PHI.
    """
    parser = html5lib.HTMLParser(strict=True)
    try:
        parser.parseFragment(markup)
    except ParseError:
        if not parser.errors:
            return "is not well-formed HTML"
        (line, column), code, _details = parser.errors[-1]
        return f"is not well-formed HTML at line {line}, column {column} ({code})"
    return None
