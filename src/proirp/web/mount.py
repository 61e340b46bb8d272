"""Puts the staff UI into the app: its pages, its static files, and `/` opening onto Today."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from proirp.kit.input import refuse_nul_in_url
from proirp.web.pages import (
    access,
    audit,
    calendar,
    campaign_new,
    campaigns,
    client_page,
    clients,
    inbox,
    message_templates,
    mfa,
    reset_password,
    sandbox,
    settings,
    signin,
    staff,
    today,
)
from proirp.web.rendering import HERE, PAGE_POLICY, PREFIX, STATIC_PATH, render

# A fixed path before the parameter that would also match it: /clients/new before
# /clients/{client_id}, /campaigns/new (campaign_new) before /campaigns/{id}.
PAGES = [
    signin,
    today,
    clients,
    client_page,
    inbox,
    calendar,
    campaign_new,
    campaigns,
    message_templates,
    settings,
    audit,
    sandbox,
    staff,
    reset_password,
    mfa,
    access,
]


def mount_web(app: FastAPI) -> None:
    for page in PAGES:
        # As the API's routes: a NUL in the path or query is refused (422) before any lookup.
        app.include_router(page.router, dependencies=[Depends(refuse_nul_in_url)])

    @app.get("/", include_in_schema=False)
    def opening() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="web-static")
    _pages_for_http_errors(app)


def _pages_for_http_errors(app: FastAPI) -> None:
    """A 404 or 405 under /app is a page (with the way back), as a refusal of a page route is;
    everywhere else the API's JSON error stays."""
    api_answer = app.exception_handlers[StarletteHTTPException]

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(f"{PREFIX}/") or request.url.path.startswith(
            f"{STATIC_PATH}/"
        ):
            answered: Response = await api_answer(request, exc)  # type: ignore[misc]
            return answered
        message = WORDS.get(exc.status_code, "That page cannot be shown.")
        user = getattr(request.state, "page_user", None)
        response = render(
            request,
            "error.html",
            user=user,
            status_code=exc.status_code,
            message=message,
            fields={},
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    app.add_exception_handler(StarletteHTTPException, answer)


WORDS = {
    404: "There is no such page. Use the menu to find what you were looking for.",
    405: "That page cannot be opened this way. Use the menu to find what you were looking for.",
}


def web_policies() -> dict[str, str]:
    """The pages' Content-Security-Policy, for answers that set none (redirects, static files)."""
    return {f"{PREFIX}/": PAGE_POLICY}
