"""Puts the staff UI into the app: its pages, its static files, and `/` opening onto Today."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from proirp.kit.input import refuse_nul_in_url
from proirp.web.pages import (
    audit,
    calendar,
    campaign_new,
    campaigns,
    client_page,
    clients,
    inbox,
    message_templates,
    sandbox,
    settings,
    signin,
    today,
)
from proirp.web.rendering import HERE, PAGE_POLICY, PREFIX, STATIC_PATH

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
]


def mount_web(app: FastAPI) -> None:
    for page in PAGES:
        # As the API's routes: a NUL in the path or query is refused (422) before any lookup.
        app.include_router(page.router, dependencies=[Depends(refuse_nul_in_url)])

    @app.get("/", include_in_schema=False)
    def opening() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="web-static")


def web_policies() -> dict[str, str]:
    """The pages' Content-Security-Policy, for answers that set none (redirects, static files)."""
    return {f"{PREFIX}/": PAGE_POLICY}
