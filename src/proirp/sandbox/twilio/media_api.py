"""The Media routes of Twilio's REST API 2010-04-01: ListMedia, FetchMedia (`.json`), and the
media file itself (no extension: the content, with the content type it arrived with).

All need the account's HTTP basic credentials, as Twilio's do with "Enforce HTTP Auth on Media
URLs" on (the product's setting; Twilio then redirects to a short-lived CDN URL, the sandbox
answers with the content directly).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.twilio.errors import TwilioApiError
from proirp.sandbox.twilio.media import media_page
from proirp.sandbox.twilio.state import TwilioSandbox

MEDIA_LIST_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json"
MEDIA_RESOURCE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json"
MEDIA_CONTENT_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def _page_number(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise TwilioApiError(20001, name=name)
    return int(raw)


def media_router(sandbox: TwilioSandbox) -> APIRouter:
    """Routes for ListMedia, FetchMedia and the media content."""
    router = APIRouter(route_class=SandboxRoute, tags=["twilio"])

    async def admit(request: Request, account_sid: str) -> None:
        # Latency first: a real API makes you wait for its refusals too.
        await sandbox.pause()
        sandbox.authenticate(request.headers.get("authorization"), account_sid)

    @router.get(MEDIA_LIST_PATH)
    async def list_media(AccountSid: str, MessageSid: str, request: Request) -> Response:
        await admit(request, AccountSid)
        query = request.query_params
        for name in query:
            # The DateCreated filters are Twilio's too; the sandbox does not model them.
            if name not in ("Page", "PageSize"):
                raise TwilioApiError(20001, name=name)
        page_size = _page_number(query, "PageSize", DEFAULT_PAGE_SIZE, minimum=1)
        page = media_page(
            sandbox.media_of(MessageSid),
            account_sid=AccountSid,
            message_sid=MessageSid,
            page=_page_number(query, "Page", 0, minimum=0),
            page_size=min(page_size, MAX_PAGE_SIZE),
        )
        return JSONResponse(page)

    # Before the content route: its {Sid} would also match "ME….json".
    @router.get(MEDIA_RESOURCE_PATH)
    async def fetch_media(AccountSid: str, MessageSid: str, Sid: str, request: Request) -> Response:
        await admit(request, AccountSid)
        return JSONResponse(sandbox.media_file(MessageSid, Sid).resource())

    @router.get(MEDIA_CONTENT_PATH)
    async def media_content(
        AccountSid: str, MessageSid: str, Sid: str, request: Request
    ) -> Response:
        await admit(request, AccountSid)
        media = sandbox.media_file(MessageSid, Sid)
        return Response(media.content, media_type=media.content_type)

    return router
