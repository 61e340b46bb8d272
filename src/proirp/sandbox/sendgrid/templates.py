"""Dynamic templates (`d-…`) and the part of Handlebars the sandbox renders them with.

Rendered: `{{var}}` and `{{nested.var}}` (HTML-escaped, as Handlebars escapes) and `{{{var}}}`
(raw). SendGrid runs the same Handlebars over subject, HTML and text, so `{{var}}` escapes in all
three — which is why SendGrid tells senders to use `{{{…}}}` for `&`, `'` or `"` in a subject. A
missing variable renders empty, as in Handlebars. Block helpers (`{{#if}}`, `{{#each}}`, …) are
not rendered; a template that uses them is refused when it is created, so a test never passes on
output the real service would render differently.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PATH = r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*"
_TAG = re.compile(
    r"\{\{\{\s*(?P<raw>" + _PATH + r")\s*\}\}\}|\{\{\s*(?P<escaped>" + _PATH + r")\s*\}\}"
)
_ANY_TAG = re.compile(r"\{\{.*?\}\}\}?", re.DOTALL)

# Handlebars' escapeExpression table.
_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "`": "&#x60;",
    "=": "&#x3D;",
}
_ESCAPE_PATTERN = re.compile("[" + re.escape("".join(_ESCAPES)) + "]")


def new_template_id() -> str:
    """A dynamic template ID as SendGrid issues them: `d-` and 32 hex digits."""
    return "d-" + secrets.token_hex(16)


@dataclass(frozen=True)
class DynamicTemplate:
    """A dynamic template's active version: subject, HTML and (optionally) plain text."""

    id: str
    name: str
    subject: str
    html: str
    text: str | None

    def resource(self) -> dict[str, Any]:
        """The template as the control routes show it."""
        return {
            "id": self.id,
            "name": self.name,
            "generation": "dynamic",
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
        }


@dataclass(frozen=True)
class RenderedContent:
    """Subject and bodies of one delivered copy."""

    subject: str | None
    text: str | None
    html: str | None


def unsupported_tags(source: str) -> list[str]:
    """The mustache tags in `source` the sandbox cannot render (helpers, blocks, partials)."""
    return [tag.group(0) for tag in _ANY_TAG.finditer(source) if not _TAG.fullmatch(tag.group(0))]


def render(source: str, data: Mapping[str, Any]) -> str:
    """Render `source` with `dynamic_template_data` as Handlebars renders plain variables."""

    def substitute(match: re.Match[str]) -> str:
        raw = match.group("raw")
        value = _to_text(_lookup(data, raw if raw is not None else match.group("escaped")))
        return value if raw is not None else _escape(value)

    return _TAG.sub(substitute, source)


def render_template(template: DynamicTemplate, data: Mapping[str, Any]) -> RenderedContent:
    """A template's subject and bodies for one personalization."""
    return RenderedContent(
        subject=render(template.subject, data),
        text=render(template.text, data) if template.text is not None else None,
        html=render(template.html, data),
    )


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if part == "this":
            continue
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _to_text(value: Any) -> str:
    """How JavaScript (and so Handlebars) turns a JSON value into text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(_to_text(item) for item in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _escape(text: str) -> str:
    return _ESCAPE_PATTERN.sub(lambda match: _ESCAPES[match.group(0)], text)
