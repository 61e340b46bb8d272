"""Message templates: create, read, update (re-checked as a whole), archive; every change audited.

A template is checked before anything is written: its fields fit its channel, its text parses in
the sandbox, its HTML part is well-formed, every variable it uses is declared with the PHI class
the practice gives that variable, and it renders within the sandbox's bounds with sample values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.comms.core.html import html_problem
from proirp.comms.models import Template
from proirp.comms.templates import repository
from proirp.comms.templates.rendering import (
    KNOWN_VARIABLES,
    RenderFailed,
    declared_variables,
    render_text,
    sample_problem,
    sample_values,
    syntax_problem,
    used_paths,
)
from proirp.comms.templates.schemas import (
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    VariableOut,
)
from proirp.kit.errors import Conflict, NotFound, ValidationFailed
from proirp.kit.pagination import Cursor, PageParams
from proirp.kit.time import utcnow

# The fields a caller can change, in the order changes are reported.
EDITABLE_FIELDS = ("name", "subject", "body", "html", "variables", "sendgrid_template_id")
TEXT_FIELDS = ("subject", "body", "html")
SMS_ONLY_ABSENT = ("subject", "html", "sendgrid_template_id")
# Names that group known variables ("client"): declaring one would sidestep their PHI classes.
_KNOWN_GROUPS = frozenset(
    ".".join(name.split(".")[:depth])
    for name in KNOWN_VARIABLES
    for depth in range(1, name.count(".") + 1)
)

Draft = dict[str, Any]


def _audit(
    session: Session, *, user_id: str, origin: RequestOrigin, action: AuditAction, **details: object
) -> None:
    record_audit(
        session,
        actor=user_id,
        action=action,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=dict(details),
    )


def _not_found() -> NotFound:
    return NotFound("no template with that id", code="template_not_found")


def _name_taken() -> Conflict:
    return Conflict(
        "another template (archived ones count) already has that name",
        code="template_name_taken",
        fields={"name": "is already used by another template"},
    )


def _draft_of(template: Template) -> Draft:
    return {
        "name": template.name,
        "channel": template.channel,
        "subject": template.subject,
        "body": template.body or None,
        "html": template.html,
        "variables": [dict(v) for v in template.variables or []],
        "sendgrid_template_id": template.sendgrid_template_id,
    }


def _normalise(draft: Draft) -> Draft:
    """Blank text counts as not given, so 'required' means something to read."""
    for field in TEXT_FIELDS:
        value = draft.get(field)
        if value is not None and not value.strip():
            draft[field] = None
    return draft


def _variable_problems(variables: list[dict[str, Any]]) -> dict[str, str]:
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for index, variable in enumerate(variables):
        name, phi = str(variable["name"]), bool(variable["phi"])
        if name in seen:
            problems[f"variables.{index}.name"] = f"{name} is declared twice"
        elif name in _KNOWN_GROUPS:
            problems[f"variables.{index}.name"] = (
                f"{name} is a group; declare each variable used, e.g. "
                + next(known for known in KNOWN_VARIABLES if known.startswith(f"{name}."))
            )
        elif name in KNOWN_VARIABLES and KNOWN_VARIABLES[name] != phi:
            known = KNOWN_VARIABLES[name]
            problems[f"variables.{index}.phi"] = (
                f"{name} is {'PHI' if known else 'not PHI'}; "
                f"declare it with phi {str(known).lower()}"
            )
        seen.add(name)
    return problems


def _channel_problems(draft: Draft) -> dict[str, str]:
    problems: dict[str, str] = {}
    if draft["channel"] == "sms":
        for field in SMS_ONLY_ABSENT:
            if draft[field] is not None:
                problems[field] = "is not allowed on an SMS template"
        if draft["body"] is None:
            problems["body"] = "is required"
    elif draft["sendgrid_template_id"] is None:
        for field in ("subject", "body"):
            if draft[field] is None:
                problems[field] = "is required unless sendgrid_template_id is given"
    return problems


def _text_problem(field: str, source: str, declared: set[str]) -> str | None:
    problem = syntax_problem(source)
    if problem is None and field == "html":
        problem = html_problem(source)
    if problem is not None:
        return problem
    undeclared = sorted(path for path in used_paths(source) if path not in declared)
    if len(undeclared) == 1:
        return (
            f"uses undeclared variable {undeclared[0]}; declare it in variables with its PHI class"
        )
    if undeclared:
        return (
            f"uses undeclared variables {', '.join(undeclared)}; "
            "declare them in variables with their PHI class"
        )
    return sample_problem(source, declared)


def check_template(draft: Draft) -> None:
    """Raise ValidationFailed naming every field of `draft` that cannot be saved as it is."""
    problems = _channel_problems(draft)
    problems.update(_variable_problems(draft["variables"]))
    declared = {str(v["name"]) for v in draft["variables"]}
    for field in TEXT_FIELDS:
        source = draft[field]
        if source is not None and field not in problems:
            problem = _text_problem(field, source, declared)
            if problem is not None:
                problems[field] = problem
    if problems:
        # Field names and our own wording only: template text never goes into an error.
        summary = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
        raise ValidationFailed(f"the template cannot be saved: {summary}", fields=problems)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        # The only unique column a caller chooses is the name: another request took it first.
        raise _name_taken() from None


def to_out(template: Template) -> TemplateOut:
    """API view of `template` (its channel shown as `type`)."""
    return TemplateOut(
        id=template.id,
        name=template.name,
        type=template.channel,
        subject=template.subject,
        body=template.body or None,
        html=template.html,
        variables=[
            VariableOut(name=str(v["name"]), phi=bool(v["phi"])) for v in template.variables or []
        ],
        sendgrid_template_id=template.sendgrid_template_id,
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


def list_templates(
    session: Session, *, channel: str | None, page: PageParams
) -> tuple[Sequence[Template], str | None]:
    """One page of templates that are not archived, newest first, and the next page's cursor."""
    rows = repository.list_templates(session, channel=channel, limit=page.limit, cursor=page.cursor)
    templates, more = rows[: page.limit], len(rows) > page.limit
    next_cursor = Cursor(templates[-1].created_at, templates[-1].id).encode() if more else None
    return templates, next_cursor


def get_template(session: Session, template_id: str) -> Template:
    template = repository.get_template(session, template_id)
    if template is None:
        raise _not_found()
    return template


def create_template(
    session: Session, body: TemplateCreate, *, user_id: str, origin: RequestOrigin
) -> Template:
    draft = _normalise(
        {
            "name": body.name,
            "channel": body.type,
            "subject": body.subject,
            "body": body.body,
            "html": body.html,
            "variables": [v.model_dump() for v in body.variables],
            "sendgrid_template_id": body.sendgrid_template_id,
        }
    )
    check_template(draft)
    if repository.name_taken(session, draft["name"]):
        raise _name_taken()
    template = Template(
        name=draft["name"],
        channel=draft["channel"],
        subject=draft["subject"],
        body=draft["body"] or "",  # the column is NOT NULL; "" means a SendGrid-only email
        html=draft["html"],
        variables=draft["variables"],
        sendgrid_template_id=draft["sendgrid_template_id"],
        created_by_user_id=user_id,
    )
    session.add(template)
    _flush(session)
    _audit(
        session,
        user_id=user_id,
        origin=origin,
        action=AuditAction.TEMPLATE_CREATED,
        template_id=template.id,
        type=template.channel,
    )
    return template


def update_template(
    session: Session,
    template_id: str,
    body: TemplateUpdate,
    *,
    user_id: str,
    origin: RequestOrigin,
) -> Template:
    """Change only the fields given, then check the template as a whole before saving it."""
    template = get_template(session, template_id)
    changes = body.model_dump(exclude_unset=True)
    new_type = changes.pop("type", template.channel)
    if new_type != template.channel:
        raise ValidationFailed(
            "type cannot change; create a new template",
            fields={"type": "cannot change; create a new template"},
        )
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed("name cannot be cleared", fields={"name": "is required"})
    current = _draft_of(template)
    draft = _normalise({**current, **changes})
    check_template(draft)
    changed = [field for field in EDITABLE_FIELDS if draft[field] != current[field]]
    if "name" in changed and repository.name_taken(session, draft["name"], other_than=template.id):
        raise _name_taken()
    for field in changed:
        value = draft[field]
        setattr(template, field, (value or "") if field == "body" else value)
    if changed:
        template.updated_at = utcnow()
    _flush(session)
    # Which fields changed, never what they hold: template text is the practice's content.
    _audit(
        session,
        user_id=user_id,
        origin=origin,
        action=AuditAction.TEMPLATE_UPDATED,
        template_id=template.id,
        fields=changed,
    )
    return template


def archive_template(
    session: Session, template_id: str, *, user_id: str, origin: RequestOrigin
) -> None:
    """Archive rather than delete: sent messages and campaigns still point at the template."""
    template = get_template(session, template_id)
    template.archived_at = utcnow()
    _flush(session)
    _audit(
        session,
        user_id=user_id,
        origin=origin,
        action=AuditAction.TEMPLATE_ARCHIVED,
        template_id=template.id,
    )


@dataclass(frozen=True)
class SamplePreview:
    """A template rendered with sample text for each variable, or why it would not render."""

    subject: str | None = None
    body: str | None = None
    html: str | None = None
    problem: str | None = None


def preview_template(template: Template) -> SamplePreview:
    """`template` rendered with the sample values it is tried with when saved
    (`[client.first_name]` for client.first_name): what each part looks like, with no client's
    details in it."""
    samples = sample_values(declared_variables(template))
    parts: dict[str, str | None] = {}
    try:
        for part in TEXT_FIELDS:
            source = getattr(template, part) or None
            parts[part] = render_text(source, samples, part=part) if source else None
    except RenderFailed as exc:
        return SamplePreview(problem=str(exc))
    return SamplePreview(**parts)
