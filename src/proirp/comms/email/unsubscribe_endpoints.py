"""GET|POST /unsubscribe/{token}: the one-click unsubscribe link in bulk email (no login).

POST unsubscribes at once (RFC 8058: mail clients POST `List-Unsubscribe=One-Click`); GET shows a
page with one button, because mail scanners follow links and must not unsubscribe anybody.
Neither page shows the address in full.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from proirp.comms.core import repository
from proirp.comms.email.suppression import suppress
from proirp.comms.email.unsubscribe import PATH, read_token
from proirp.kit.db import lock_shared_writes
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.security_headers import page_policy

router = APIRouter(prefix=PATH, tags=["unsubscribe"], include_in_schema=False)

_STYLE = """body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font-size:1rem;padding:.6rem 1.2rem}"""
# The page runs no script and loads nothing but this style; its form posts only here.
_POLICY = page_policy(styles=[_STYLE])
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style></head>
<body><h1>{title}</h1>{content}</body></html>"""


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    page = _PAGE.format(title=escape(title), style=_STYLE, content=content)
    return HTMLResponse(page, status_code=status, headers={"Content-Security-Policy": _POLICY})


def _masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def _not_found() -> HTMLResponse:
    return _page(
        "Link not recognised",
        "<p>This unsubscribe link is not valid. Please contact the practice directly.</p>",
        status=404,
    )


@router.get("/{token}", response_class=HTMLResponse)
def confirm_page(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    comm_id = read_token(token)
    comm = repository.get(session, comm_id) if comm_id else None
    if comm is None or comm.channel != "email":
        return _not_found()
    practice = escape(settings.practice_name)
    content = (
        f"<p>Stop email from {practice} to {escape(_masked(comm.to_address))}?</p>"
        f'<form method="post" action="{PATH}/{escape(token)}">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", content)


@router.post("/{token}", response_class=HTMLResponse)
def unsubscribe(
    token: str, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> HTMLResponse:
    comm_id = read_token(token)
    comm = repository.get(session, comm_id) if comm_id else None
    if comm is None or comm.channel != "email" or not comm.to_address:
        return _not_found()
    lock_shared_writes(session)  # before the queued rows that suppress() blocks
    suppress(
        session,
        comm.to_address,
        reason="The recipient unsubscribed (one-click link).",
        source="one_click",
        client_id=comm.client_id,
        origin=origin,
        cause="one_click",
    )
    practice = escape(settings.practice_name)
    return _page(
        "You are unsubscribed",
        f"<p>{practice} will not send email to {escape(_masked(comm.to_address))} again.</p>",
    )
