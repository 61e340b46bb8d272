"""What every page shares: who is signed in (the session cookie), roles, CSRF on every form,
and refusals shown as pages rather than as the API's JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

import pydantic
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute, APIRouter
from starlette.datastructures import FormData

from proirp.auth.dependencies import SESSION_COOKIE
from proirp.auth.models import Role, User
from proirp.auth.second_factor import must_enrol
from proirp.auth.secrets import csrf_matches
from proirp.auth.sessions import idle_limit, resolve_session
from proirp.kit.deps import SessionDep
from proirp.kit.error_handlers import located
from proirp.kit.errors import AppError, Forbidden, ValidationFailed
from proirp.kit.input import NUL_REFUSED, holds_nul
from proirp.web.rendering import PREFIX, render

CSRF_FIELD = "csrf_token"


class SignInFirst(Exception):
    """No valid session cookie: the page sends the browser to the sign-in page."""


class EnrolFirst(Exception):
    """The account must set up its second factor before anything else: to the enrolment page."""


def field_messages(errors: list[Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in errors:
        location = [str(part) for part in located(error) if part not in ("body", "query")]
        name = ".".join(location) or "form"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        fields.setdefault(name, message)  # never the submitted value: it may be PHI
    return fields


class PageRoute(APIRoute):
    """A page: a refusal becomes a page with the same status, naming the fields at fault."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except EnrolFirst:
                return RedirectResponse(f"{PREFIX}/mfa", status_code=303)
            except SignInFirst:
                target = request.url.path
                if request.url.query:
                    target += f"?{request.url.query}"
                if request.method != "GET":
                    target = f"{PREFIX}/"
                return RedirectResponse(f"{PREFIX}/signin?next={quote(target)}", status_code=303)
            except AppError as refused:
                return _refusal(request, refused.status_code, refused.message, refused.fields)
            except (RequestValidationError, pydantic.ValidationError) as invalid:
                fields = field_messages(list(invalid.errors()))
                return _refusal(request, 422, "Some fields need another look.", fields)

        return page


def _refusal(
    request: Request, status: int, message: str, fields: dict[str, str] | None
) -> Response:
    user = getattr(request.state, "page_user", None)
    response = render(
        request, "error.html", user=user, status_code=status, message=message, fields=fields or {}
    )
    return response


def page_router() -> APIRouter:
    return APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)


LIVE_HEADER = "x-live-update"


def _polling(request: Request) -> bool:
    """A live region's poll or refresh (app.js), which is not the person's activity: it does
    not put off the idle timeout."""
    return request.url.path.startswith(f"{PREFIX}/live/") or LIVE_HEADER in request.headers


def enrolling_page_user(request: Request, session: SessionDep) -> User:
    """The signed-in user, from the session cookie only (a page is never sent a bearer token),
    whether or not they still have to set up their second factor."""
    cookie = request.cookies.get(SESSION_COOKIE)
    idle_after = idle_limit(request.app.state.settings)
    principal = (
        resolve_session(session, cookie, idle_after=idle_after, by_person=not _polling(request))
        if cookie
        else None
    )
    if principal is None:
        raise SignInFirst
    request.state.page_user = principal.user
    request.state.page_token = principal.token
    request.state.must_enrol = must_enrol(session, principal.user, request.app.state.settings)
    session.commit()  # as the API's lookup does: no SQLite write lock held across threads
    return principal.user


def page_user(user: Annotated[User, Depends(enrolling_page_user)], request: Request) -> User:
    """The signed-in user, past the second factor their account needs."""
    if request.state.must_enrol:
        raise EnrolFirst
    return user


def page_role(*roles: Role) -> Callable[[User], User]:
    allowed = frozenset(roles)

    def check(user: Annotated[User, Depends(page_user)]) -> User:
        if user.role not in allowed:
            raise Forbidden("Your role may not open this page.", code="forbidden_role")
        return user

    return check


async def read_form(request: Request) -> FormData:
    """The submitted form; a field holding a NUL is refused (422 naming it) before anything
    uses it, as the API refuses one in a body: a lookup with it would fail on PostgreSQL."""
    form = await request.form()
    fields = {
        str(name): NUL_REFUSED
        for name, value in form.multi_items()
        if holds_nul(str(name)) or (isinstance(value, str) and holds_nul(value))
    }
    if fields:
        raise ValidationFailed("Some fields need another look.", fields=fields)
    return form


async def checked_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matches the session's."""
    form = await read_form(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    presented = form.get(CSRF_FIELD)
    if not cookie or not isinstance(presented, str) or not csrf_matches(cookie, presented):
        raise Forbidden(
            "This form has expired. Go back, reload the page and try again.", code="csrf_failed"
        )
    return form


def field(form: FormData, name: str) -> str | None:
    """A text field, stripped; None when empty or absent."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


PageUser = Annotated[User, Depends(page_user)]
EnrollingPageUser = Annotated[User, Depends(enrolling_page_user)]
AdminPage = Annotated[User, Depends(page_role(Role.ADMIN))]
SendingPage = Annotated[User, Depends(page_role(Role.ADMIN, Role.STAFF))]
CheckedForm = Annotated[FormData, Depends(checked_form)]
