"""FastAPI dependencies every domain uses: the request's session, settings, request origin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from proirp.config import Settings
from proirp.kit.origin import RequestOrigin


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the handler returns, rolled back if it raises.

    Scoped to the handler so the commit happens before the response is sent: a client never sees
    success for a change that did not commit.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session_factory(request: Request) -> sessionmaker[Session]:
    """For work that needs transactions of its own beside the request's (a provider call)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_origin(request: Request) -> RequestOrigin:
    return RequestOrigin(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
OriginDep = Annotated[RequestOrigin, Depends(get_origin)]
