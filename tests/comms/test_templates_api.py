"""/templates: CRUD for SMS and email templates, each validation rule, roles, the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.comms.models import Template
from proirp.comms.templates.rendering import KNOWN_VARIABLES, syntax_problem, used_paths
from tests.factories import Staff, create_staff

SENDGRID_ID = "d-" + "0123456789abcdef" * 2
# Text that must never reach an error message or an audit row.
MARKER = "Marguerite"


def sms(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Call us",
        "type": "sms",
        "body": "Please call {{ practice.name }} at {{ practice.phone }}.",
        "variables": [
            {"name": "practice.name", "phi": False},
            {"name": "practice.phone", "phi": False},
        ],
    }
    return {**body, **overrides}


def email(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Appointment reminder",
        "type": "email",
        "subject": "Your appointment at {{ practice.name }}",
        "body": "Hello {{ client.first_name }}, see you soon.",
        "html": "<p>Hello {{ client.first_name }}, see you soon.</p>",
        "variables": [
            {"name": "client.first_name", "phi": True},
            {"name": "practice.name", "phi": False},
        ],
    }
    return {**body, **overrides}


def create(api: TestClient, staff: Staff, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/templates", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    template: dict[str, Any] = response.json()["template"]
    return template


def audit_rows(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def template_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Template)) or 0


def assert_refused(
    response: Any, field: str, *, status: int = 422, code: str = "validation_error"
) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert response.json()["ok"] is False
    assert error["code"] == code
    assert field in error["fields"], error
    problem: str = error["fields"][field]
    return problem


# --- create, read, list ------------------------------------------------------------------------


def test_create_an_sms_template(api: TestClient, db: Session, staff: Staff) -> None:
    response = api.post("/templates", json=sms(), headers=staff.headers)
    assert response.status_code == 201, response.text
    assert response.json()["ok"] is True
    template = response.json()["template"]
    assert set(template) == {
        "id",
        "name",
        "type",
        "subject",
        "body",
        "html",
        "variables",
        "sendgrid_template_id",
        "created_at",
        "updated_at",
    }
    assert template["type"] == "sms"
    assert template["name"] == "Call us"
    assert template["subject"] is None and template["html"] is None
    assert template["variables"] == sms()["variables"]
    row = db.get(Template, template["id"])
    assert row is not None and row.channel == "sms"
    assert row.created_by_user_id == staff.user.id


def test_create_an_email_template_with_an_html_part(api: TestClient, staff: Staff) -> None:
    template = create(api, staff, email())
    assert template["type"] == "email"
    assert template["subject"] == email()["subject"]
    assert template["html"] == email()["html"]
    assert template["sendgrid_template_id"] is None


def test_an_email_template_may_leave_subject_and_body_to_sendgrid(
    api: TestClient, staff: Staff
) -> None:
    body = email(sendgrid_template_id=SENDGRID_ID)
    del body["subject"], body["body"], body["html"]
    template = create(api, staff, body)
    assert template["sendgrid_template_id"] == SENDGRID_ID
    assert template["subject"] is None and template["body"] is None


def test_get_one_and_an_unknown_id(api: TestClient, staff: Staff) -> None:
    template = create(api, staff, email())
    response = api.get(f"/templates/{template['id']}", headers=staff.headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "template": template}
    missing = api.get("/templates/" + "0" * 32, headers=staff.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "template_not_found"


def test_list_filters_by_type_newest_first(api: TestClient, staff: Staff) -> None:
    first = create(api, staff, sms(name="One"))
    second = create(api, staff, email(name="Two"))
    third = create(api, staff, sms(name="Three"))
    everything = api.get("/templates", headers=staff.headers).json()
    assert everything["ok"] is True
    assert [t["id"] for t in everything["templates"]] == [third["id"], second["id"], first["id"]]
    assert everything["next_cursor"] is None
    only_sms = api.get("/templates?type=sms", headers=staff.headers).json()["templates"]
    assert [t["id"] for t in only_sms] == [third["id"], first["id"]]
    only_email = api.get("/templates?type=email", headers=staff.headers).json()["templates"]
    assert [t["id"] for t in only_email] == [second["id"]]
    assert_refused(api.get("/templates?type=fax", headers=staff.headers), "type")


def test_list_pages_with_a_cursor(api: TestClient, staff: Staff) -> None:
    made = [create(api, staff, sms(name=f"Template {n}"))["id"] for n in range(5)]
    seen: list[str] = []
    url = "/templates?limit=2"
    pages = 0
    while True:
        page = api.get(url, headers=staff.headers).json()
        assert len(page["templates"]) <= 2
        seen += [t["id"] for t in page["templates"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        url = f"/templates?limit=2&cursor={page['next_cursor']}"
    assert pages == 3
    assert seen == list(reversed(made))
    assert_refused(api.get("/templates?cursor=nonsense", headers=staff.headers), "cursor")


# --- update ------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_given(api: TestClient, db: Session, staff: Staff) -> None:
    template = create(api, staff, email())
    response = api.patch(
        f"/templates/{template['id']}",
        json={"subject": f"For {MARKER}: your visit to {{{{ practice.name }}}}"},
        headers=staff.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()["template"]
    assert updated["subject"] == f"For {MARKER}: your visit to {{{{ practice.name }}}}"
    for field in ("name", "body", "html", "variables", "sendgrid_template_id", "created_at"):
        assert updated[field] == template[field]
    assert updated["updated_at"] >= template["updated_at"]
    (audit,) = audit_rows(db, "TEMPLATE_UPDATED")
    assert audit.details == {"template_id": template["id"], "fields": ["subject"]}
    assert audit.actor_user_id == staff.user.id


def test_patch_can_rename_and_redeclare(api: TestClient, staff: Staff) -> None:
    template = create(api, staff, sms())
    response = api.patch(
        f"/templates/{template['id']}",
        json={
            "name": "Call us, please",
            "body": "Hi {{ client.first_name }}, please call us.",
            "variables": [{"name": "client.first_name", "phi": True}],
        },
        headers=staff.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()["template"]
    assert updated["name"] == "Call us, please"
    assert updated["variables"] == [{"name": "client.first_name", "phi": True}]
    # Keeping its own name is not a clash.
    same = api.patch(
        f"/templates/{template['id']}", json={"name": "Call us, please"}, headers=staff.headers
    )
    assert same.status_code == 200, same.text


def test_patch_is_checked_as_a_whole(api: TestClient, db: Session, staff: Staff) -> None:
    template = create(api, staff, email())
    # Dropping a declaration the body and html still use is refused on the fields that use it.
    response = api.patch(
        f"/templates/{template['id']}",
        json={"variables": [{"name": "practice.name", "phi": False}]},
        headers=staff.headers,
    )
    assert_refused(response, "body")
    assert "html" in response.json()["error"]["fields"]
    # Clearing the subject of an email with no SendGrid template is refused too.
    assert_refused(
        api.patch(f"/templates/{template['id']}", json={"subject": None}, headers=staff.headers),
        "subject",
    )
    row = db.get(Template, template["id"])
    assert row is not None
    db.refresh(row)
    assert len(row.variables) == 2 and row.subject == email()["subject"]
    assert audit_rows(db, "TEMPLATE_UPDATED") == []


def test_patch_cannot_change_the_type(api: TestClient, staff: Staff) -> None:
    template = create(api, staff, sms())
    response = api.patch(
        f"/templates/{template['id']}", json={"type": "email"}, headers=staff.headers
    )
    assert assert_refused(response, "type") == "cannot change; create a new template"
    assert response.json()["error"]["message"] == "type cannot change; create a new template"
    same = api.patch(f"/templates/{template['id']}", json={"type": "sms"}, headers=staff.headers)
    assert same.status_code == 200


def test_patch_cannot_clear_the_name(api: TestClient, staff: Staff) -> None:
    template = create(api, staff, sms())
    response = api.patch(f"/templates/{template['id']}", json={"name": None}, headers=staff.headers)
    assert_refused(response, "name")


def test_patch_to_a_taken_name_is_a_conflict(api: TestClient, staff: Staff) -> None:
    create(api, staff, sms(name="Taken"))
    template = create(api, staff, sms(name="Free"))
    response = api.patch(
        f"/templates/{template['id']}", json={"name": "Taken"}, headers=staff.headers
    )
    assert_refused(response, "name", status=409, code="template_name_taken")


# --- archive -----------------------------------------------------------------------------------


def test_delete_archives_and_hides_the_template(api: TestClient, db: Session, staff: Staff) -> None:
    kept = create(api, staff, sms(name="Kept"))
    gone = create(api, staff, email(name="Gone"))
    response = api.delete(f"/templates/{gone['id']}", headers=staff.headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    row = db.get(Template, gone["id"])
    assert row is not None and row.archived_at is not None  # kept: messages still point at it
    listed = api.get("/templates", headers=staff.headers).json()["templates"]
    assert [t["id"] for t in listed] == [kept["id"]]
    for again in (
        api.get(f"/templates/{gone['id']}", headers=staff.headers),
        api.delete(f"/templates/{gone['id']}", headers=staff.headers),
        api.patch(f"/templates/{gone['id']}", json={"body": "x"}, headers=staff.headers),
    ):
        assert again.status_code == 404
        assert again.json()["error"]["code"] == "template_not_found"
    (audit,) = audit_rows(db, "TEMPLATE_ARCHIVED")
    assert audit.details == {"template_id": gone["id"]}


def test_an_archived_template_keeps_its_name(api: TestClient, staff: Staff) -> None:
    gone = create(api, staff, sms(name="Old reminder"))
    api.delete(f"/templates/{gone['id']}", headers=staff.headers)
    response = api.post("/templates", json=sms(name="Old reminder"), headers=staff.headers)
    assert_refused(response, "name", status=409, code="template_name_taken")


# --- validation: one rule each; nothing is written when a rule refuses ------------------------

SMS_RULES = [
    pytest.param(sms(name=""), "name", id="name empty"),
    pytest.param(sms(name="x" * 201), "name", id="name too long"),
    pytest.param(sms(type="fax"), "type", id="type unknown"),
    pytest.param(sms(subject="Hello"), "subject", id="sms with a subject"),
    pytest.param(sms(html="<p>Hello</p>"), "html", id="sms with html"),
    pytest.param(sms(sendgrid_template_id=SENDGRID_ID), "sendgrid_template_id", id="sms sendgrid"),
    pytest.param(sms(body=None), "body", id="sms without a body"),
    pytest.param(sms(body="   "), "body", id="sms with a blank body"),
    pytest.param(sms(extra="x"), "extra", id="unknown field"),
]
EMAIL_RULES = [
    pytest.param(email(subject=None), "subject", id="email without a subject"),
    pytest.param(email(body=None), "body", id="email without a body"),
    pytest.param(email(html="<p>Hello <b>there</p>"), "html", id="html not well-formed"),
    pytest.param(email(sendgrid_template_id="d-123"), "sendgrid_template_id", id="bad sendgrid"),
    pytest.param(
        email(sendgrid_template_id="D-" + "A" * 32), "sendgrid_template_id", id="sendgrid case"
    ),
]
VARIABLE_RULES = [
    pytest.param([{"name": "practice.name"}], "variables.0.phi", id="phi missing"),
    pytest.param([{"phi": False}], "variables.0.name", id="name missing"),
    pytest.param(
        [{"name": "practice.name", "phi": False, "default": "x"}],
        "variables.0.default",
        id="extra key",
    ),
    pytest.param([{"name": "practice.name", "phi": "no"}], "variables.0.phi", id="phi not bool"),
    pytest.param([{"name": "Practice.Name", "phi": False}], "variables.0.name", id="upper case"),
    pytest.param([{"name": "practice..name", "phi": False}], "variables.0.name", id="empty part"),
    pytest.param([{"name": "1st.visit", "phi": False}], "variables.0.name", id="leading digit"),
    pytest.param(
        [{"name": "practice.name", "phi": False}, {"name": "practice.name", "phi": False}],
        "variables.1.name",
        id="declared twice",
    ),
    pytest.param(
        [{"name": "practice.name", "phi": False}, {"name": "client.first_name", "phi": False}],
        "variables.1.phi",
        id="PHI declared as not PHI",
    ),
    pytest.param(
        [{"name": "practice.name", "phi": True}], "variables.0.phi", id="not PHI declared as PHI"
    ),
    pytest.param([{"name": "client", "phi": False}], "variables.0.name", id="a known group"),
    pytest.param({"name": "practice.name", "phi": False}, "variables", id="not a list"),
]


def _refused_and_nothing_written(
    api: TestClient, db: Session, staff: Staff, body: dict[str, Any], field: str
) -> str:
    problem = assert_refused(api.post("/templates", json=body, headers=staff.headers), field)
    assert template_count(db) == 0
    assert audit_rows(db, "TEMPLATE_CREATED") == []
    return problem


@pytest.mark.parametrize(("body", "field"), SMS_RULES + EMAIL_RULES)
def test_a_field_that_breaks_a_rule_is_named(
    api: TestClient, db: Session, staff: Staff, body: dict[str, Any], field: str
) -> None:
    _refused_and_nothing_written(api, db, staff, body, field)


@pytest.mark.parametrize(("variables", "field"), VARIABLE_RULES)
def test_variable_declarations_are_checked(
    api: TestClient, db: Session, staff: Staff, variables: Any, field: str
) -> None:
    body = sms(body="Please call {{ practice.name }}.", variables=variables)
    _refused_and_nothing_written(api, db, staff, body, field)


def test_the_phi_class_of_a_known_variable_is_fixed(
    api: TestClient, db: Session, staff: Staff
) -> None:
    body = sms(
        body="Hi {{ client.first_name }}", variables=[{"name": "client.first_name", "phi": False}]
    )
    problem = _refused_and_nothing_written(api, db, staff, body, "variables.0.phi")
    assert problem == "client.first_name is PHI; declare it with phi true"


def test_the_name_must_be_unique(api: TestClient, db: Session, staff: Staff) -> None:
    create(api, staff, sms(name="Reminder"))
    response = api.post("/templates", json=email(name="Reminder"), headers=staff.headers)
    assert_refused(response, "name", status=409, code="template_name_taken")
    assert template_count(db) == 1


@pytest.mark.parametrize("field", ["subject", "body", "html"])
def test_text_must_parse_as_a_template(
    api: TestClient, db: Session, staff: Staff, field: str
) -> None:
    broken = f"<p>Dear {MARKER},</p>\n<p>{{{{ client.first_name }}</p>"
    problem = _refused_and_nothing_written(api, db, staff, email(**{field: broken}), field)
    assert problem == "is not a valid template: unexpected '}', line 2"
    response = api.post("/templates", json=email(**{field: broken}), headers=staff.headers)
    assert MARKER not in response.text


def test_an_unknown_filter_is_a_template_error(api: TestClient, db: Session, staff: Staff) -> None:
    body = sms(body="Call {{ practice.name | shout }}")
    problem = _refused_and_nothing_written(api, db, staff, body, "body")
    assert problem == "is not a valid template: No filter named 'shout', line 1"


@pytest.mark.parametrize("field", ["subject", "body", "html"])
def test_every_variable_used_must_be_declared(
    api: TestClient, db: Session, staff: Staff, field: str
) -> None:
    text = f"For {MARKER}: {{{{ client.last_name }}}}"
    problem = _refused_and_nothing_written(api, db, staff, email(**{field: text}), field)
    assert problem == (
        "uses undeclared variable client.last_name; declare it in variables with its PHI class"
    )


def test_a_whole_object_is_not_a_declared_variable(
    api: TestClient, db: Session, staff: Staff
) -> None:
    body = sms(body="Hi {{ client }}", variables=[{"name": "client.first_name", "phi": True}])
    problem = _refused_and_nothing_written(api, db, staff, body, "body")
    assert "undeclared variable client;" in problem


def test_error_messages_never_quote_template_text(api: TestClient, staff: Staff) -> None:
    body = email(
        subject=f"{MARKER} {{{{ client.date_of_birth }}}}",
        body=f"{MARKER} {{% if %}}",
        html=f"<p>{MARKER}<b></p>",
        variables=[{"name": "client.first_name", "phi": False}],
    )
    response = api.post("/templates", json=body, headers=staff.headers)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) >= {"subject", "body", "html", "variables.0.phi"}
    assert MARKER not in response.text


# --- roles and audit ---------------------------------------------------------------------------


def test_a_clinician_reads_templates_but_cannot_change_them(
    api: TestClient, db: Session, staff: Staff
) -> None:
    template = create(api, staff, sms())
    clinician = create_staff(db, role="clinician")
    assert api.get("/templates", headers=clinician.headers).status_code == 200
    assert api.get(f"/templates/{template['id']}", headers=clinician.headers).status_code == 200
    refused = [
        api.post("/templates", json=sms(name="Mine"), headers=clinician.headers),
        api.patch(f"/templates/{template['id']}", json={"name": "x"}, headers=clinician.headers),
        api.delete(f"/templates/{template['id']}", headers=clinician.headers),
    ]
    for response in refused:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden_role"
    assert template_count(db) == 1
    assert len(audit_rows(db, "TEMPLATE_CREATED")) == 1


def test_an_admin_can_create(api: TestClient, db: Session) -> None:
    admin = create_staff(db, role="admin")
    create(api, admin, sms())


def test_audit_rows_hold_ids_and_field_names_never_text(
    api: TestClient, db: Session, staff: Staff
) -> None:
    template = create(
        api, staff, email(body=f"Dear {MARKER}, {{{{ client.first_name }}}}", name=MARKER)
    )
    api.patch(
        f"/templates/{template['id']}",
        json={"html": f"<p>{MARKER}</p>", "body": f"Hi {MARKER}"},
        headers=staff.headers,
    )
    api.delete(f"/templates/{template['id']}", headers=staff.headers)
    (created,) = audit_rows(db, "TEMPLATE_CREATED")
    (updated,) = audit_rows(db, "TEMPLATE_UPDATED")
    (archived,) = audit_rows(db, "TEMPLATE_ARCHIVED")
    assert created.details == {"template_id": template["id"], "type": "email"}
    assert updated.details == {"template_id": template["id"], "fields": ["body", "html"]}
    for row in (created, updated, archived):
        assert row.actor_user_id == staff.user.id
        assert row.client_id is None
        assert MARKER not in str(row.details)


# --- the helpers in comms.templates ------------------------------------------------------------


def test_used_paths_are_full_dotted_paths() -> None:
    source = (
        "{{ client.first_name.upper() }} {{ practice['name'] }} {{ unsubscribe_url }}"
        "{% for visit in visits %}{{ visit.starts_at }}{% endfor %}"
        "{% set who = client.last_name %}{{ who }}"
    )
    assert used_paths(source) == {
        "client.first_name",
        "practice.name",
        "unsubscribe_url",
        "visits",
        "client.last_name",
    }


def test_syntax_problem_names_jinjas_message_and_line() -> None:
    assert syntax_problem("Hello {{ practice.name }}") is None
    assert syntax_problem("a\nb\n{% for x in y %}") == (
        "is not a valid template: Unexpected end of template. Jinja was looking for the "
        "following tags: 'endfor' or 'else'. The innermost block that needs to be closed is "
        "'for', line 3"
    )


def test_known_variables_catalogue() -> None:
    phi = {name for name, is_phi in KNOWN_VARIABLES.items() if is_phi}
    assert phi == {
        "client.first_name",
        "client.last_name",
        "client.date_of_birth",
        "client.email",
        "client.phone",
        "appointment.start_local",  # an appointment reminder's, with a BAA only
        "appointment.clinician",
    }
    assert set(KNOWN_VARIABLES) - phi == {"practice.name", "practice.phone", "unsubscribe_url"}
