"""`proirp users list | disable | enable | set-role | reset-password`, run against a fresh
database: the same rules as the API (the last admin stays), each change audited."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import ApiToken, User
from proirp.auth.repository import user_by_email
from proirp.auth.reset_links import PasswordResetLink
from proirp.auth.secrets import token_digest
from tests.auth.test_cli import proirp

LINK = re.compile(r"(https?://\S+/app/reset-password/(pirst_\S+))")


@pytest.fixture
def users_db(cli_database: str) -> Iterator[Session]:
    engine = create_engine(cli_database)
    with Session(engine) as session:
        yield session
    engine.dispose()


def create(email: str, role: str) -> None:
    result = proirp("users", "create", "--email", email, "--role", role)
    assert result.exit_code == 0, result.output


def user(session: Session, email: str) -> User:
    session.expire_all()
    found = user_by_email(session, email)
    assert found is not None
    return found


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_list_disable_enable_and_set_role(users_db: Session) -> None:
    create("boss@clinic.example.com", "admin")
    create("kim@clinic.example.com", "clinician")

    listing = proirp("users", "list")
    assert listing.exit_code == 0, listing.output
    assert "boss@clinic.example.com\tadmin\tactive" in listing.stdout
    assert "kim@clinic.example.com\tclinician\tactive" in listing.stdout

    kim = user(users_db, "kim@clinic.example.com")
    users_db.add(ApiToken(user_id=kim.id, token_hash=token_digest("pirp_x"), kind="session"))
    users_db.commit()
    disabled = proirp("users", "disable", "kim@clinic.example.com")
    assert disabled.exit_code == 0, disabled.output
    assert user(users_db, "kim@clinic.example.com").is_active is False
    token = users_db.scalar(select(ApiToken).where(ApiToken.user_id == kim.id))
    assert token is not None and token.revoked_at is not None
    assert "kim@clinic.example.com\tclinician\tdisabled" in proirp("users", "list").stdout

    assert proirp("users", "enable", "kim@clinic.example.com").exit_code == 0
    changed = proirp("users", "set-role", "kim@clinic.example.com", "staff")
    assert changed.exit_code == 0 and "is now staff" in changed.stdout
    assert (user(users_db, "kim@clinic.example.com").role, kim.is_active) == ("staff", True)
    assert actions(users_db)[-3:] == ["USER_DISABLED", "USER_ENABLED", "USER_ROLE_CHANGED"]


def test_the_last_admin_is_kept_and_bad_input_named(users_db: Session) -> None:
    create("boss@clinic.example.com", "admin")

    for args in (
        ["disable", "boss@clinic.example.com"],
        ["set-role", "boss@clinic.example.com", "staff"],
    ):
        result = proirp("users", *args)
        assert result.exit_code == 1
        assert "last active admin" in result.stderr
    boss = user(users_db, "boss@clinic.example.com")
    assert (boss.role, boss.is_active) == ("admin", True)

    unknown = proirp("users", "disable", "nobody@clinic.example.com")
    assert unknown.exit_code == 1 and "no staff account has that email" in unknown.stderr
    bad_role = proirp("users", "set-role", "boss@clinic.example.com", "owner")
    assert bad_role.exit_code == 1 and "role is not one of" in bad_role.stderr


def test_reset_password_prints_a_one_time_link_and_stores_its_digest(users_db: Session) -> None:
    create("kim@clinic.example.com", "clinician")
    result = proirp("users", "reset-password", "kim@clinic.example.com")
    assert result.exit_code == 0, result.output
    [(url, token)] = LINK.findall(result.stdout)
    assert url.startswith("http") and url.endswith(token)
    [link] = users_db.scalars(select(PasswordResetLink)).all()
    assert link.token_hash == token_digest(token) and link.issued_by_user_id is None
    assert link.user_id == user(users_db, "kim@clinic.example.com").id
    assert actions(users_db)[-1] == "PASSWORD_RESET_ISSUED"
    assert token not in str(users_db.scalars(select(AuditLog.details)).all())
