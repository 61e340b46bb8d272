"""The page a password reset link opens: its person chooses a new password (twice), checked as
every new password is. No session is needed: the link is the credential, and it works once.
The link's token is in the path, which the request log never writes (kit/request_log.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from proirp.auth import password_reset
from proirp.auth.password_policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from proirp.kit.deps import OriginDep, SessionDep
from proirp.kit.errors import ValidationFailed
from proirp.web.rendering import render
from proirp.web.routing import page_router, read_form

router = page_router()
Token = Annotated[str, Path(max_length=200)]
GONE = (
    "This password reset link has expired or was already used. Ask an admin of your practice "
    "for a new one."
)


def _gone(request: Request) -> Response:
    response = render(request, "reset_password.html", gone=GONE, status_code=404)
    response.headers["Cache-Control"] = "no-store"
    return response


def _form(request: Request, token: str, *, error: str | None = None, status: int = 200) -> Response:
    response = render(
        request,
        "reset_password.html",
        token=token,
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/reset-password/{token}")
def reset_page(request: Request, token: Token, session: SessionDep) -> Response:
    if password_reset.usable_link(session, token) is None:
        return _gone(request)
    return _form(request, token)


@router.post("/reset-password/{token}")
def reset(
    request: Request,
    token: Token,
    form: Annotated[FormData, Depends(read_form)],
    session: SessionDep,
    origin: OriginDep,
) -> Response:
    password, repeated = form.get("password"), form.get("password_again")
    if password_reset.usable_link(session, token) is not None:
        if not isinstance(password, str) or not password:
            return _form(request, token, error="Enter a new password.", status=422)
        if password != repeated:
            return _form(request, token, error="The two passwords differ.", status=422)
    try:
        # A refused link is audited here, and the answer returned (not raised) so it commits.
        password_reset.complete_reset(session, token, str(password or ""), origin=origin)
    except password_reset.ResetLinkRefused:
        return _gone(request)
    except ValidationFailed as weak:  # nothing is written before the password is checked
        return _form(request, token, error=f"The {weak.message}.", status=422)
    response = render(request, "reset_password.html", done=True)
    response.headers["Cache-Control"] = "no-store"
    return response
