"""What a campaign's emails share, and what is particular to each recipient.

A batch is one SendGrid call: the content is written once, with a placeholder where each
recipient's values go (`[%client.first_name%]`), and each personalization carries its own
values as substitutions. A template whose output cannot be rebuilt that way (a filter or a
condition on a variable) still goes out, one message per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from proirp.comms.email.service import render_part
from proirp.comms.email.unsubscribe import HTML_FOOTER, TEXT_FOOTER
from proirp.comms.models import Campaign, Template
from proirp.comms.templates.rendering import render


@dataclass(frozen=True)
class SharedContent:
    subject: str | None
    text: str | None
    html: str | None
    dynamic_template_id: str | None = None


def text_placeholder(name: str) -> str:
    return f"[%{name}%]"


def html_placeholder(name: str) -> str:
    return f"[%html:{name}%]"


def _declared(template: Template) -> list[str]:
    return [str(v["name"]) for v in template.variables or []]


def shared_content(campaign: Campaign, template: Template | None) -> SharedContent:
    """The content every email of the campaign shares (placeholders instead of values).

    Raises RenderFailed when the campaign's template does not render."""
    if template is None:
        return SharedContent(campaign.subject, campaign.body or None, campaign.html)
    return template_content(template)


def template_content(template: Template) -> SharedContent:
    """`template` rendered with a placeholder for each value, or RenderFailed."""
    if template.sendgrid_template_id:
        return SharedContent(None, None, None, dynamic_template_id=template.sendgrid_template_id)
    names = _declared(template)
    rendered = render(template, {name: text_placeholder(name) for name in names})
    html = None
    if template.html:
        html = render_part(
            template, template.html, {name: html_placeholder(name) for name in names}
        )
        # render_part escapes values; placeholders hold no markup, so they come out unchanged.
    return SharedContent(rendered.subject, rendered.body, html)


def substitutions_for(values: Mapping[str, Any]) -> dict[str, str]:
    """One recipient's placeholder → value map, for the text and the HTML parts."""
    subs: dict[str, str] = {}
    for name, value in values.items():
        text = "" if value is None else str(value)
        subs[text_placeholder(name)] = text
        subs[html_placeholder(name)] = str(escape(text))
    return subs


def apply(content: str | None, subs: Mapping[str, str]) -> str | None:
    """What SendGrid does with substitutions: replace each key, everywhere, as plain text."""
    if content is None:
        return None
    for key, value in subs.items():
        content = content.replace(key, value)
    return content


def with_footer(content: SharedContent) -> SharedContent:
    """Bulk mail ends with the recipient's own unsubscribe link."""
    if content.dynamic_template_id:
        return content  # the SendGrid template places {{unsubscribe_url}} itself
    return SharedContent(
        content.subject,
        (content.text or "") + TEXT_FOOTER if content.text else None,
        (content.html or "") + HTML_FOOTER if content.html else None,
    )
