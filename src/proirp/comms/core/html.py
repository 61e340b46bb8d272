"""An email's HTML part: is it well-formed (html5lib in strict mode stops at the first parse
error), and what text does its reader see (for the BAA guard's scanner)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

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


# Elements whose content a reader sees apart from what is around it.
_APART = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)


@lru_cache(maxsize=16)
def html_text(markup: str) -> str:
    """The text a reader of `markup` sees: entities decoded, a word split by tags whole again
    (`Av<b></b>ery`), blocks and line breaks apart. A campaign asks it once per text."""
    root = html5lib.parseFragment(markup, treebuilder="etree", namespaceHTMLElements=False)
    parts: list[str] = []

    def walk(element: Any) -> None:
        apart = isinstance(element.tag, str) and element.tag.lower() in _APART
        if apart:
            parts.append("\n")
        if isinstance(element.tag, str) and element.text:
            parts.append(element.text)
        for child in element:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if apart:
            parts.append("\n")

    if root.text:
        parts.append(root.text)
    for child in root:
        walk(child)
        if child.tail:
            parts.append(child.tail)
    return "".join(parts)
