"""Who is calling: bearer token or session cookie (with CSRF for changes), and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from proirp.auth.models import Role, User
from proirp.auth.second_factor import refuse_until_enrolled
from proirp.auth.secrets import csrf_matches
from proirp.auth.service import Principal
from proirp.auth.sessions import idle_limit, resolve_session
from proirp.kit.deps import SessionDep
from proirp.kit.errors import Forbidden, NotAuthenticated

SESSION_COOKIE = "proirp_session"
CSRF_COOKIE = "proirp_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declared for /openapi.json (its security schemes and the Authorize button in /docs); the
# credentials themselves are read below, so each refusal keeps its own message.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="The `token` from POST /auth/login: `Authorization: Bearer <token>`.",
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="sessionCookie",
    description="The cookie POST /auth/login sets; changes also need the X-CSRF-Token header.",
)


def _end_read(session: Session, principal: Principal) -> Principal:
    """End the lookup's transaction before the handler runs.

    The handler runs on another thread-pool slot. On SQLite every transaction holds the write
    lock from its first statement (BEGIN IMMEDIATE), so a lookup left open across that hop can
    leave its request waiting for a thread while every thread waits for its lock. On PostgreSQL
    the token's row, locked when its last use is written, is released before the handler takes
    any other lock (the writers' lock), so that ending the person's sessions, which takes the
    writers' lock and then their tokens', cannot deadlock with it.
    """
    session.commit()
    return principal


def _known(request: Request, session: Session, token: str) -> Principal:
    """The principal behind `token`, or a 401 saying, as RFC 6750 asks, that the token is
    invalid (unknown, revoked, expired, idle too long, or its user disabled)."""
    settings = request.app.state.settings
    principal = resolve_session(session, token, idle_after=idle_limit(settings))
    if principal is None:
        raise NotAuthenticated(
            "sign in first: the token is missing, expired or revoked", bearer_error="invalid_token"
        )
    return principal


def signed_in_principal(
    request: Request,
    session: SessionDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    _cookie: Annotated[str | None, Depends(SESSION)],
) -> Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated(
                "the Authorization header must be 'Bearer <token>'", bearer_error="invalid_request"
            )
        return _end_read(session, _known(request, session, token.strip()))

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("sign in first: send a bearer token or the session cookie")
    principal = _known(request, session, cookie)
    if request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER, "")
        if not presented or not csrf_matches(cookie, presented):
            raise Forbidden(
                "a change made with the session cookie needs the X-CSRF-Token header",
                code="csrf_failed",
            )
    return _end_read(session, principal)


# Signed in, whether or not the account still has to set up its second factor: for the routes
# such an account may use (enrolling, /auth/me, signing out).
SignedInPrincipal = Annotated[Principal, Depends(signed_in_principal)]


def current_principal(
    request: Request, principal: SignedInPrincipal, session: SessionDep
) -> Principal:
    """Signed in, and not held to enrolling a second factor first (403 `mfa_enrolment_required`;
    see auth/second_factor.py)."""
    refuse_until_enrolled(session, principal.user, request.app.state.settings)
    return _end_read(session, principal)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def signed_in_user(principal: SignedInPrincipal) -> User:
    return principal.user


SignedInUser = Annotated[User, Depends(signed_in_user)]


def current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets through only users holding one of `roles`."""
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden("your role may not do this", code="forbidden_role")
        return user

    return check


AdminUser = Annotated[User, Depends(require_role(Role.ADMIN))]
AnyStaff = Annotated[User, Depends(require_role(Role.ADMIN, Role.CLINICIAN, Role.STAFF))]
