"""The inbox's routes: a client's thread, the inbox, read state, unmatched numbers, media, and
the inbox settings. Replying is a normal POST /comms."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from proirp.auth.dependencies import AdminUser, AnyStaff
from proirp.comms.inbox import service
from proirp.comms.inbox.media import content_of
from proirp.comms.inbox.schemas import (
    AttachAnswer,
    AttachIn,
    InboxAnswer,
    InboxSettingsAnswer,
    InboxSettingsIn,
    ReadAnswer,
    ThreadAnswer,
    UnmatchedAnswer,
)
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.openapi import errors
from proirp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams, page_params

router = APIRouter(tags=["inbox"])
Page = Annotated[PageParams, Depends(page_params)]
# Shown in the page; anything else (an SVG can hold a script) is a download.
INLINE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif", "image/bmp"})


@router.get(
    "/clients/{client_id}/messages",
    response_model=ThreadAnswer,
    summary="A client's messages, both directions, oldest to newest (the newest page first)",
    description=(
        "Shows each message's text: every read is audited (MESSAGE_VIEWED), and reading the "
        "thread opens the conversation, so its urgent alerts stop. A deleted client's thread "
        "stays readable: their messages outlive the record."
    ),
    responses=errors(404),
)
def client_messages(
    client_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep, page: Page
) -> dict[str, Any]:
    messages, next_cursor = service.read_thread(
        session, client_id, user_id=user.id, origin=origin, limit=page.limit, cursor=page.cursor
    )
    return {"ok": True, "messages": messages, "next_cursor": next_cursor}


@router.get(
    "/inbox",
    response_model=InboxAnswer,
    summary="Conversations with client messages: urgent first, then unread (yours), then recent",
)
def inbox(
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=12, json_schema_extra={"format": "cursor"})
    ] = None,
) -> dict[str, Any]:
    offset = _offset(cursor)
    views, next_offset = service.list_inbox(
        session, user_id=user.id, origin=origin, limit=limit, offset=offset
    )
    return {
        "ok": True,
        "conversations": views,
        "next_cursor": str(next_offset) if next_offset is not None else None,
    }


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,9}", cursor):
        raise ValidationFailed(
            "cursor is not one this API returned", fields={"cursor": "invalid cursor"}
        )
    return int(cursor)


@router.get(
    "/inbox/unmatched",
    response_model=UnmatchedAnswer,
    summary="Client messages from numbers that match no client, or several: newest first",
    description=(
        "Each with the clients that have its number (`candidates`). Attach one to a client "
        "with POST /inbox/{message_id}/attach (create the client first with POST /clients)."
    ),
)
def unmatched(session: SessionDep, user: AnyStaff, origin: OriginDep, page: Page) -> dict[str, Any]:
    views, next_cursor = service.list_unmatched(
        session, user_id=user.id, origin=origin, limit=page.limit, cursor=page.cursor
    )
    return {"ok": True, "messages": views, "next_cursor": next_cursor}


@router.post(
    "/inbox/{message_id}/read",
    response_model=ReadAnswer,
    summary="Mark a client's message, and the earlier ones of its conversation, read for you",
    responses=errors(404),
)
def mark_read(
    message_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    count = service.mark_read(session, message_id, user_id=user.id, origin=origin)
    return {"ok": True, "read": count}


@router.post(
    "/inbox/{message_id}/attach",
    response_model=AttachAnswer,
    summary="Attach a message from an unmatched (or shared) number to a client",
    responses=errors(404, 409),
)
def attach(
    message_id: str, body: AttachIn, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    ids = service.attach(
        session,
        message_id,
        body.client_id,
        all_from_number=body.all_from_number,
        user_id=user.id,
        origin=origin,
    )
    return {"ok": True, "attached": ids}


@router.get(
    "/comms/{comm_id}/media/{media_id}",
    response_class=Response,
    summary="One picture or file of a client's MMS (an audited read)",
    include_in_schema=False,  # a file for the browser, not a JSON answer
)
def media(
    comm_id: str, media_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> Response:
    found = service.media_file(session, comm_id, media_id, user_id=user.id, origin=origin)
    inline = found.content_type.lower() in INLINE_TYPES
    return Response(
        content_of(found),
        media_type=found.content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": "inline" if inline else "attachment",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get(
    "/inbox/settings",
    response_model=InboxSettingsAnswer,
    summary="The inbox settings: office hours, automatic replies, urgent phrases, on-call address",
)
def get_settings(session: SessionDep, user: AdminUser, settings: SettingsDep) -> dict[str, Any]:
    return {"ok": True, "settings": service.settings_view(session, settings)}


@router.put(
    "/inbox/settings",
    response_model=InboxSettingsAnswer,
    summary="Change the inbox settings (admins); fields left out keep their value",
)
def put_settings(
    body: InboxSettingsIn,
    session: SessionDep,
    user: AdminUser,
    origin: OriginDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    saved = service.save_settings(session, body, settings=settings, user_id=user.id, origin=origin)
    return {"ok": True, "settings": saved}
