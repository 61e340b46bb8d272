"""`proirp users reset-mfa EMAIL`: an operator's reset of a user's second factor (a lost phone),
run against a fresh database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from proirp.audit.models import AuditLog
from proirp.auth.mfa_models import RecoveryCode, SecondFactor
from proirp.auth.models import ApiToken, TokenKind
from proirp.auth.repository import user_by_email
from proirp.cli import app
from proirp.kit.time import utcnow


@pytest.fixture
def users_db(cli_database: str) -> Iterator[Session]:
    engine = create_engine(cli_database)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_reset_mfa_ends_the_second_factor_and_the_sessions(users_db: Session) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["users", "create", "--email", "Lee@Clinic.Example.com", "--role", "admin",
         "--password", "a long enough password"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    user = user_by_email(users_db, "lee@clinic.example.com")
    assert user is not None
    # As if Lee had enrolled and signed in (the vault the command installed encrypts the secret).
    users_db.add(SecondFactor(user_id=user.id, totp_secret="A" * 32, confirmed_at=utcnow()))
    users_db.add(RecoveryCode(user_id=user.id, code_digest="d" * 64))
    users_db.add(ApiToken(user_id=user.id, token_hash="t" * 64, kind=TokenKind.SESSION))
    users_db.commit()

    result = runner.invoke(app, ["users", "reset-mfa", "LEE@clinic.example.com"])
    assert result.exit_code == 0, result.output
    assert "lee@clinic.example.com: two-step sign-in reset; their sessions are ended" in (
        result.stdout
    )
    assert "A" * 32 not in result.output
    users_db.expire_all()
    assert users_db.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id)) is None
    assert users_db.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user.id)) is None
    [session_token] = users_db.scalars(select(ApiToken).where(ApiToken.user_id == user.id))
    assert session_token.revoked_at is not None
    [audit] = users_db.scalars(select(AuditLog).where(AuditLog.action == "MFA_RESET")).all()
    assert audit.actor_user_id is None
    assert audit.details == {"user_id": user.id, "had_second_factor": True, "sessions_ended": 1}


def test_reset_mfa_of_nobody_fails(users_db: Session) -> None:
    result = CliRunner().invoke(app, ["users", "reset-mfa", "nobody@clinic.example.com"])
    assert result.exit_code == 1
    assert "no user with that email" in result.output
