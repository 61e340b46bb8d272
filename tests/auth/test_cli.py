"""`proirp users create` and `proirp users ensure-admin`, run against a fresh database."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.auth.secrets import verify_password
from proirp.cli import app

GENERATED = re.compile(r"password \(shown once, store it now\): (\S+)")


@pytest.fixture
def users_db(cli_database: str) -> Iterator[Session]:
    """A session on the database the commands use, to check what they wrote."""
    engine = create_engine(cli_database)
    with Session(engine) as session:
        yield session
    engine.dispose()


def proirp(*args: str) -> Result:
    # CliRunner's stdin is not a terminal, as in a script or a container's entrypoint.
    return CliRunner().invoke(app, list(args))


def users(session: Session) -> list[User]:
    session.expire_all()
    return list(session.scalars(select(User).order_by(User.created_at)))


def test_users_create_with_a_password(users_db: Session) -> None:
    password = "a long enough password"
    result = proirp(
        "users", "create", "--email", "Kim@Clinic.Example.com", "--role", "clinician",
        "--password", password,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "created clinician kim@clinic.example.com" in result.stdout
    assert password not in result.output
    [user] = users(users_db)
    assert (user.email, user.role, user.is_active) == ("kim@clinic.example.com", "clinician", True)
    assert verify_password(user.password_hash, password)
    [audit] = users_db.scalars(select(AuditLog).where(AuditLog.action == "USER_CREATED")).all()
    assert audit.actor_user_id is None
    assert audit.details == {"user_id": user.id, "role": "clinician"}


def test_users_create_without_a_password_prints_a_generated_one_once(users_db: Session) -> None:
    result = proirp("users", "create", "--email", "sam@clinic.example.com", "--role", "staff")

    assert result.exit_code == 0, result.output
    [password] = GENERATED.findall(result.stdout)
    assert len(password) >= 12
    assert result.output.count(password) == 1
    [user] = users(users_db)
    assert verify_password(user.password_hash, password)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "superuser"], "role is not one of admin, clinician, staff"),
        (["--role", "staff", "--password", "short"], "password must be at least 12"),
        (["--role", "staff", "--email", "not-an-email"], "email is not a valid address"),
    ],
    ids=["bad role", "short password", "bad email"],
)
def test_users_create_refuses_bad_input(users_db: Session, args: list[str], message: str) -> None:
    result = proirp("users", "create", "--email", "pat@clinic.example.com", *args)

    assert result.exit_code != 0
    assert message in result.stderr
    assert users(users_db) == []


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", " " * 12, "password1234"])
def test_users_create_refuses_a_guessable_password(users_db: Session, password: str) -> None:
    result = proirp(
        "users", "create", "--email", "pat@clinic.example.com", "--role", "staff",
        "--password", password,
    )  # fmt: skip

    assert result.exit_code != 0
    assert "password is too easy to guess" in result.stderr
    assert password not in result.output
    assert users(users_db) == []


def test_users_create_refuses_an_email_in_use(users_db: Session) -> None:
    args = ["users", "create", "--email", "lee@clinic.example.com", "--role", "staff"]
    assert proirp(*args).exit_code == 0

    again = proirp(*args[:-1], "admin")
    assert again.exit_code != 0
    assert "exists" in again.stderr
    assert [u.role for u in users(users_db)] == ["staff"]


def test_ensure_admin_creates_the_first_admin_only_once(users_db: Session) -> None:
    first = proirp("users", "ensure-admin", "--email", "boss@clinic.example.com")
    assert first.exit_code == 0, first.output
    assert "created admin boss@clinic.example.com" in first.stdout
    [password] = GENERATED.findall(first.stdout)

    second = proirp("users", "ensure-admin", "--email", "other@clinic.example.com")
    assert second.exit_code == 0, second.output
    assert "an admin exists" in second.stdout
    assert GENERATED.search(second.stdout) is None

    [admin] = users(users_db)
    assert (admin.email, admin.role) == ("boss@clinic.example.com", "admin")
    assert verify_password(admin.password_hash, password)


def test_ensure_admin_ignores_non_admin_users(users_db: Session) -> None:
    assert (
        proirp("users", "create", "--email", "a@clinic.example.com", "--role", "staff").exit_code
        == 0
    )

    result = proirp("users", "ensure-admin")
    assert result.exit_code == 0, result.output
    assert sorted(u.role for u in users(users_db)) == ["admin", "staff"]
