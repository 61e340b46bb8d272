"""`proirp users list | disable | enable | set-role | reset-password`: the staff lifecycle from
the server, for when no admin can sign in (each change audited, with no staff member as actor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from proirp.cli.common import fail as _fail
from proirp.cli.common import settings as _settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from proirp.auth.models import User

Email = Annotated[str, typer.Argument(help="The account's sign-in email.")]


def _run(email: str, change: Callable[[Session, User], str]) -> None:
    """Find the account by email and apply `change` in one transaction; print what it says."""
    from proirp import runtime
    from proirp.auth.repository import user_by_email
    from proirp.kit.db import transaction
    from proirp.kit.errors import AppError

    rt = runtime.start(_settings())
    try:
        with transaction(rt.session_factory) as session:
            user = user_by_email(session, email.strip())
            if user is None:
                _fail("no staff account has that email")
                return
            said = change(session, user)
    except AppError as exc:
        _fail(exc.message)
        return
    typer.echo(said)


def users_list() -> None:
    """Every staff account: email, role, active or disabled, last sign-in."""
    from proirp import runtime
    from proirp.auth.staff import list_staff
    from proirp.kit.db import transaction

    rt = runtime.start(_settings())
    with transaction(rt.session_factory) as session:
        for user in list_staff(session):
            state = "active" if user.is_active else "disabled"
            last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "-"
            typer.echo(f"{user.email}\t{user.role}\t{state}\tlast sign-in {last}")


def users_disable(email: Email) -> None:
    """Disable an account: its sessions and tokens end now and its calendars stop syncing."""
    from proirp.auth.staff import disable_user

    _run(email, lambda s, u: f"disabled {disable_user(s, u.id, actor=None).email}")


def users_enable(email: Email) -> None:
    """Enable a disabled account (its person signs in again)."""
    from proirp.auth.staff import enable_user

    _run(email, lambda s, u: f"enabled {enable_user(s, u.id, actor=None).email}")


def users_set_role(
    email: Email,
    role: Annotated[str, typer.Argument(help="admin, clinician or staff.")],
) -> None:
    """Change an account's role."""
    from proirp.auth.staff import set_role

    def change(session: Session, user: User) -> str:
        changed = set_role(session, user.id, role, actor=None)
        return f"{changed.email} is now {changed.role}"

    _run(email, change)


def users_reset_password(email: Email) -> None:
    """Print a one-time link (valid for 1 hour) with which the person sets a new password.
    Hand it to them yourself; it is shown only now."""
    from proirp.auth.password_reset import issue_reset_link

    base_url = _settings().base_url

    def change(session: Session, user: User) -> str:
        link = issue_reset_link(session, user.id, base_url=base_url, actor=None)
        until = link.expires_at.isoformat(timespec="minutes")
        return f"reset link for {user.email} (works once, until {until}):\n{link.url}"

    _run(email, change)


def add_staff_commands(users_app: typer.Typer) -> None:
    users_app.command("list")(users_list)
    users_app.command("disable")(users_disable)
    users_app.command("enable")(users_enable)
    users_app.command("set-role")(users_set_role)
    users_app.command("reset-password")(users_reset_password)
