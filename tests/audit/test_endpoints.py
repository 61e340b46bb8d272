"""GET /audit-logs and POST /audit-logs/verify: admins only, filters, pages, and audited reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from proirp.audit import service as audit_service
from proirp.audit.actions import AuditAction
from proirp.audit.chainer import chain_within
from proirp.audit.models import AuditLog
from proirp.audit.service import record_audit
from tests.audit.conftest import lift_append_only_guard
from tests.factories import Staff, create_staff

T1, T2, T3 = (datetime(2001, 1, day, tzinfo=UTC) for day in (1, 2, 3))


@pytest.fixture
def admin(db: Session) -> Staff:
    staff = create_staff(db, role="admin")
    db.commit()  # keep the admin if a request in the test fails and rolls its own work back
    return staff


def _new_id() -> str:
    return uuid.uuid4().hex


def _seed(db: Session, actor: str, *specs: tuple[str, str | None]) -> list[int]:
    """Rows by `actor`, one per (action, client_id), chained; returns their ids."""
    ids = [
        record_audit(
            db, actor=actor, action=AuditAction(action), client_id=client, details={"seq": n}
        ).id
        for n, (action, client) in enumerate(specs)
    ]
    chain_within(db)
    db.commit()
    return ids


def _ids(api: TestClient, admin: Staff, **params: Any) -> list[int]:
    response = api.get("/audit-logs", params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["audit_logs"]]


def _viewed_rows(db: Session, admin: Staff) -> list[AuditLog]:
    stmt = select(AuditLog).where(
        AuditLog.action == AuditAction.AUDIT_LOG_VIEWED, AuditLog.actor_user_id == admin.user.id
    )
    return list(db.scalars(stmt.order_by(AuditLog.id)))


@pytest.mark.parametrize("role", ["clinician", "staff"])
def test_only_admins_may_read_or_verify(api: TestClient, db: Session, role: str) -> None:
    other = create_staff(db, role=role)
    db.commit()

    for method, path in [("GET", "/audit-logs"), ("POST", "/audit-logs/verify")]:
        anonymous = api.request(method, path)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "not_authenticated"
        refused = api.request(method, path, headers=other.headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden_role"
    assert db.scalars(select(AuditLog).where(AuditLog.actor_user_id == other.user.id)).all() == []


def test_rows_come_newest_first_as_recorded(api: TestClient, db: Session, admin: Staff) -> None:
    actor, client = _new_id(), _new_id()
    ids = _seed(db, actor, ("CLIENT_VIEWED", client), ("CLIENT_UPDATED", None))

    response = api.get("/audit-logs", params={"user_id": actor}, headers=admin.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    newest, oldest = body["audit_logs"]
    assert [newest["id"], oldest["id"]] == ids[::-1]
    assert (oldest["actor_user_id"], oldest["action"], oldest["client_id"]) == (
        actor,
        "CLIENT_VIEWED",
        client,
    )
    assert oldest["details"] == {"seq": 0}
    assert oldest["hash"] == db.get(AuditLog, ids[0]).hash  # type: ignore[union-attr]
    assert datetime.fromisoformat(oldest["created_at"]).utcoffset() == timedelta(0)


def test_filters_by_user_client_and_action(api: TestClient, db: Session, admin: Staff) -> None:
    alice, bob, c1, c2 = _new_id(), _new_id(), _new_id(), _new_id()
    a1, a2 = _seed(db, alice, ("CLIENT_VIEWED", c1), ("CLIENT_UPDATED", c2))
    (b1,) = _seed(db, bob, ("CLIENT_VIEWED", c1))

    assert _ids(api, admin, user_id=alice) == [a2, a1]
    assert _ids(api, admin, user_id=bob) == [b1]
    assert _ids(api, admin, client_id=c1) == [b1, a1]
    assert _ids(api, admin, client_id=c2) == [a2]
    assert _ids(api, admin, user_id=alice, action="CLIENT_UPDATED") == [a2]
    assert _ids(api, admin, user_id=alice, client_id=c1, action="CLIENT_VIEWED") == [a1]
    assert _ids(api, admin, user_id=alice, action="CLIENT_DELETED") == []
    assert _ids(api, admin, user_id=_new_id()) == []
    # Each filtered read is recorded under the admin, never under the user being looked at.
    assert {r.details["filters"].get("user_id") for r in _viewed_rows(db, admin)} >= {alice, bob}


@pytest.fixture
def dated_rows(db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[int]]]:
    """Three rows by one actor, written at T1, T2 and T3."""
    actor = _new_id()
    with monkeypatch.context() as patched:
        times = iter([T1, T2, T3])
        patched.setattr(audit_service, "utcnow", lambda: next(times))
        ids = _seed(db, actor, ("LOGIN_SUCCEEDED", None), ("CLIENT_VIEWED", None), ("LOGOUT", None))
    yield actor, ids


def test_since_is_inclusive_and_until_exclusive(
    api: TestClient, admin: Staff, dated_rows: tuple[str, list[int]]
) -> None:
    actor, (r1, r2, r3) = dated_rows

    assert _ids(api, admin, user_id=actor, since="2001-01-02T00:00:00Z") == [r3, r2]
    assert _ids(api, admin, user_id=actor, until="2001-01-02T00:00:00Z") == [r1]
    assert _ids(api, admin, user_id=actor, since="2001-01-02T00:00:00Z", until=T3.isoformat()) == [
        r2
    ]
    assert _ids(api, admin, user_id=actor, since="2001-01-02T00:00:00.000001Z") == [r3]
    assert _ids(api, admin, user_id=actor, until="2001-01-01T00:00:00Z") == []


def test_since_and_until_honour_the_offset_given(
    api: TestClient, admin: Staff, dated_rows: tuple[str, list[int]]
) -> None:
    actor, (r1, r2, r3) = dated_rows

    # 19:00 in UTC-5 on the 1st is midnight UTC on the 2nd.
    assert _ids(api, admin, user_id=actor, since="2001-01-01T19:00:00-05:00") == [r3, r2]
    assert _ids(api, admin, user_id=actor, until="2001-01-02T05:30:00+05:30") == [r1]


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_time_without_an_offset_is_refused_naming_the_field(
    api: TestClient, db: Session, admin: Staff, field: str
) -> None:
    response = api.get("/audit-logs", params={field: "2001-01-02T00:00:00"}, headers=admin.headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert set(error["fields"]) == {field}
    assert _viewed_rows(db, admin) == []


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "9" * 20, "9" * 19])
def test_a_cursor_the_api_never_issued_is_refused(
    api: TestClient, admin: Staff, cursor: str
) -> None:
    response = api.get("/audit-logs", params={"cursor": cursor}, headers=admin.headers)

    assert response.status_code == 422, response.text
    assert "cursor" in response.json()["error"]["fields"]


def test_pages_follow_next_cursor_to_the_end(api: TestClient, db: Session, admin: Staff) -> None:
    actor = _new_id()
    ids = _seed(db, actor, *[("CLIENT_VIEWED", None)] * 5)

    seen: list[int] = []
    cursors: list[str | None] = []
    params: dict[str, Any] = {"user_id": actor, "limit": 2}
    while True:
        body = api.get("/audit-logs", params=params, headers=admin.headers).json()
        seen += [row["id"] for row in body["audit_logs"]]
        cursors.append(body["next_cursor"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]

    assert seen == ids[::-1]
    assert cursors == [str(ids[3]), str(ids[1]), None]
    # An exact last page says so: no cursor pointing at an empty page.
    last = api.get("/audit-logs", params={"user_id": actor, "limit": 5}, headers=admin.headers)
    assert last.json()["next_cursor"] is None


def test_reading_the_log_is_itself_audited(api: TestClient, db: Session, admin: Staff) -> None:
    actor = _new_id()
    _seed(db, actor, ("CLIENT_VIEWED", None), ("CLIENT_VIEWED", None))

    headers = {**admin.headers, "User-Agent": "audit-test/1.0"}
    params = {"user_id": actor, "action": "CLIENT_VIEWED", "since": "2000-01-01T00:00:00Z"}
    assert api.get("/audit-logs", params=params, headers=headers).status_code == 200

    (viewed,) = _viewed_rows(db, admin)
    assert viewed.details == {
        "filters": {
            "user_id": actor,
            "action": "CLIENT_VIEWED",
            "since": "2000-01-01T00:00:00+00:00",
        },
        "rows": 2,
    }
    assert viewed.user_agent == "audit-test/1.0"
    assert viewed.ip == "testclient"
    assert viewed.client_id is None


def test_verify_reports_an_intact_chain_and_is_audited(
    api: TestClient, db: Session, admin: Staff
) -> None:
    _seed(db, _new_id(), ("CLIENT_VIEWED", None), ("CLIENT_UPDATED", None))
    total = len(db.scalars(select(AuditLog.id)).all())

    response = api.post("/audit-logs/verify", headers=admin.headers)

    assert response.status_code == 200
    body = response.json()
    # Rows other tests committed may have been anchored (the app anchors when it stops).
    anchored = {"anchored_id": body.pop("anchored_id"), "anchored_at": body.pop("anchored_at")}
    assert body == {
        "ok": True,
        "intact": True,
        "rows_checked": total,
        "first_bad_id": None,
        "problem": None,
        "unchained": 0,
    }
    assert (anchored["anchored_id"] is None) == (anchored["anchored_at"] is None)
    verified = db.scalars(
        select(AuditLog).where(AuditLog.action == AuditAction.AUDIT_CHAIN_VERIFIED)
    ).one()
    assert verified.actor_user_id == admin.user.id
    assert verified.details == {"intact": True, "rows_checked": total}


def test_verify_names_a_tampered_row(api: TestClient, db: Session, admin: Staff) -> None:
    first, victim, _last = _seed(db, _new_id(), *[("CLIENT_VIEWED", None)] * 3)
    # Inside the test's transaction: the lifted guard and the edit are rolled back afterwards.
    kind = "postgres" if db.get_bind().dialect.name == "postgresql" else "sqlite"
    lift_append_only_guard(db.connection(), kind)
    db.execute(update(AuditLog).where(AuditLog.id == victim).values(action="LOGOUT"))
    db.commit()

    body = api.post("/audit-logs/verify", headers=admin.headers).json()

    assert body["intact"] is False
    assert body["first_bad_id"] == victim
    assert body["problem"] == "content does not match its hash (edited)"
    assert first < victim
    assert body["rows_checked"] == len(
        db.scalars(select(AuditLog.id).where(AuditLog.id < victim)).all()
    )


@pytest.mark.parametrize("value", ["0.5", "1700000000", "yesterday"])
def test_a_time_that_is_not_iso_8601_is_refused(api: TestClient, admin: Staff, value: str) -> None:
    response = api.get("/audit-logs", params={"until": value}, headers=admin.headers)

    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"until"}
