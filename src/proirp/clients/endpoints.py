"""/clients: list and search, create, read, update, archive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from proirp.auth.dependencies import AdminUser, AnyStaff
from proirp.clients import service
from proirp.clients.schemas import ClientAnswer, ClientCreate, ClientList, ClientUpdate
from proirp.clients.service import Actor
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.openapi import Done, errors
from proirp.kit.pagination import PageParams, page_params

router = APIRouter(prefix="/clients", tags=["clients"])

Page = Annotated[PageParams, Depends(page_params)]


def _one(session: SessionDep, client: Any) -> dict[str, Any]:
    return service.to_out(session, [client])[0].model_dump(mode="json")


@router.get("", response_model=ClientList, summary="List or search clients")
def list_clients(
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    page: Page,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Part of a first or last name or of the email (case aside; one or two "
            "characters match the start of a word), three or more digits of the phone, or a full "
            "name (each word in a name or the email).",
        ),
    ] = None,
) -> dict[str, Any]:
    clients, next_cursor = service.list_clients(
        session, q=q, page=page, actor=Actor(user.id, origin)
    )
    views = [view.model_dump(mode="json") for view in service.to_out(session, clients)]
    return {"ok": True, "clients": views, "next_cursor": next_cursor}


@router.post("", status_code=201, response_model=ClientAnswer, summary="Create a client")
def create_client(
    body: ClientCreate,
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    settings: SettingsDep,
) -> JSONResponse:
    client = service.create_client(session, body, actor=Actor(user.id, origin), settings=settings)
    return JSONResponse({"ok": True, "client": _one(session, client)}, status_code=201)


@router.get(
    "/{client_id}", response_model=ClientAnswer, summary="Read a client", responses=errors(404)
)
def get_client(
    client_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    client = service.get_client(session, client_id, actor=Actor(user.id, origin))
    return {"ok": True, "client": _one(session, client)}


@router.patch(
    "/{client_id}", response_model=ClientAnswer, summary="Update a client", responses=errors(404)
)
def update_client(
    client_id: str,
    body: ClientUpdate,
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    client = service.update_client(
        session, client_id, body, actor=Actor(user.id, origin), settings=settings
    )
    return {"ok": True, "client": _one(session, client)}


@router.delete(
    "/{client_id}", response_model=Done, summary="Archive a client (admins)", responses=errors(404)
)
def delete_client(
    client_id: str, session: SessionDep, user: AdminUser, origin: OriginDep
) -> dict[str, Any]:
    service.delete_client(session, client_id, actor=Actor(user.id, origin))
    return {"ok": True}
