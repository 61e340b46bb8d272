"""An email campaign's recipients: one row per client, and one batch job per chunk.

A chunk is as large as a SendGrid call (1,000 personalizations), so a 10,000-recipient campaign
is ten chunks, ten jobs and ten calls. Rows that cannot share the campaign's content (see
`email.content`) go out in calls of their own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.clients.models import Client
from proirp.comms.campaigns.chunk import (
    ChunkWriter,
    MessageRow,
    NotSent,
    guarded_status,
    message_row,
)
from proirp.comms.core.guard import BlockReason, suppressed_addresses
from proirp.comms.email.content import SharedContent, apply, shared_content, substitutions_for
from proirp.comms.email.service import email_address, email_block, render_part
from proirp.comms.models import Campaign, CommunicationStatus, Template
from proirp.comms.templates.rendering import RenderFailed, TemplateProblem, render
from proirp.comms.templates.variables import values_for
from proirp.config import Settings
from proirp.kit.crypto import seal
from proirp.kit.errors import ValidationFailed
from proirp.worker.after_commit import enqueue_after_commit

EMAIL_CHUNK = 1000

Content = tuple[str | None, str, str | None]  # subject, text, html
Made = tuple[str, Content, dict[str, object] | None]  # to, content, substitutions


def _render_failure(exc: RenderFailed, to: str) -> NotSent:
    return NotSent(
        f"The template's {exc.part} could not be rendered: {exc.reason}.",
        CommunicationStatus.FAILED,
        to,
    )


class EmailChunk(ChunkWriter):
    first_chunk = EMAIL_CHUNK  # one chunk, one SendGrid call
    chunk_size = EMAIL_CHUNK
    blocked_action = AuditAction.EMAIL_BLOCKED
    failed_action = AuditAction.EMAIL_FAILED

    def __init__(
        self, session: Session, campaign: Campaign, clients: Sequence[Client], settings: Settings
    ) -> None:
        super().__init__(session, campaign, clients, settings)
        self.template = (
            session.get(Template, campaign.template_id) if campaign.template_id else None
        )
        # Once the template fails for everyone (or takes too long for one), it is not rendered
        # again for the rest of the chunk: each recipient's message fails with the same reason.
        self.unrenderable: RenderFailed | None = None
        try:
            self.shared = shared_content(campaign, self.template)
        except RenderFailed as exc:
            self.shared, self.unrenderable = SharedContent(None, None, None), exc
        self.suppressed = suppressed_addresses(session, [c.email or "" for c in clients])
        # What every recipient's row holds alike is encrypted once for the chunk.
        self.sealed = {
            value: seal(value)
            for value in (self.shared.subject, self.shared.text, self.shared.html, "{}")
            if value
        }

    def _sealed(self, value: str | None) -> str | None:
        return self.sealed.get(value, value) if value is not None else None

    def _personal(
        self, client: Client, to: str
    ) -> tuple[Content, dict[str, object] | None] | NotSent:
        """The client's own rendering of the template, and the values that make the shared
        content theirs (None: it cannot share, and goes out in a call of its own)."""
        template, shared = self.template, self.shared
        assert template is not None
        declared = [str(v["name"]) for v in template.variables or []]
        try:
            values = values_for(declared, client, self.settings, {})
        except TemplateProblem as exc:
            name = exc.field.removeprefix("variables.")
            return NotSent(f"The template needs {name}, which the client's record does not have.")
        try:
            rendered = render(template, values)
            html = render_part(template, template.html, values) if template.html else None
        except RenderFailed as exc:
            if exc.too_slow:
                self.unrenderable = exc
            return _render_failure(exc, to)
        content = (rendered.subject, rendered.body, html)
        if shared.dynamic_template_id:
            return content, values
        flat = substitutions_for(values)
        same = (
            apply(shared.subject, flat),
            apply(shared.text, flat) or "",
            apply(shared.html, flat),
        ) == content
        return content, (dict(flat) if same else None)

    def _made(self, client: Client) -> Made | NotSent:
        """The client's address, email and substitutions, or why they cannot get one."""
        if not client.email:
            return NotSent("The client has no email.")
        try:
            to = email_address(client.email, "email")
        except ValidationFailed:
            return NotSent("The client's email address is not valid.")
        if self.unrenderable is not None:
            return _render_failure(self.unrenderable, to)
        content: Content = (self.shared.subject, self.shared.text or "", self.shared.html)
        subs: dict[str, object] | None = {}
        if self.template is not None:
            personal = self._personal(client, to)
            if isinstance(personal, NotSent):
                return personal
            content, subs = personal
        return to, content, subs

    def preview(self, client: Client) -> NotSent | BlockReason | None:
        made = self._made(client)
        if isinstance(made, NotSent):
            return made
        to, content, _subs = made
        return email_block(
            self.session, client, to, *content, self.settings, suppressed=self.suppressed
        )

    def write(self, client: Client) -> MessageRow | NotSent:
        made = self._made(client)
        if isinstance(made, NotSent):
            return made
        to, (subject, text, html), subs = made
        block = email_block(
            self.session, client, to, subject, text, html, self.settings, suppressed=self.suppressed
        )
        return message_row(
            self.campaign,
            client.id,
            to=to,
            **guarded_status(block),
            subject=self._sealed(subject),
            body=self._sealed(text) or "",
            body_html=self._sealed(html),
            # The values that make the shared content theirs (they can be PHI: stored encrypted).
            substitutions=self._sealed(json.dumps(subs)) if subs is not None else None,
        )

    def finish(self, queued: list[str]) -> None:
        """The chunk's queued rows go out together, after commit."""
        if queued:
            enqueue_after_commit(self.session, "comms.deliver_email_batch", queued)
