"""Cursor pagination: `?limit=&cursor=` → `next_cursor`, an opaque token of (created_at, id)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Query
from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from proirp.kit.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def before(
        self,
        created_at: ColumnElement[datetime] | InstrumentedAttribute[datetime],
        id_: ColumnElement[str] | InstrumentedAttribute[str],
    ) -> ColumnElement[bool]:
        """Rows after this cursor in newest-first order (created_at, then id, descending).

        The first term repeats what the second implies, as a range an index on `created_at`
        starts from: a page far down the list begins where the cursor is, not at the top."""
        return and_(
            created_at <= self.created_at,
            or_(created_at < self.created_at, and_(created_at == self.created_at, id_ < self.id)),
        )

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            created_at, id_ = json.loads(base64.urlsafe_b64decode(padded))
            when = datetime.fromisoformat(created_at)
            if when.tzinfo is None:
                raise ValueError("cursor time without an offset")
            return cls(when, str(id_))
        except (ValueError, TypeError) as exc:
            raise ValidationFailed(
                "cursor is not one this API returned", fields={"cursor": "invalid cursor"}
            ) from exc


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: Cursor | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    # "cursor" format: only a `next_cursor` this API returned; anything else is 422.
    cursor: Annotated[
        str | None, Query(max_length=200, json_schema_extra={"format": "cursor"})
    ] = None,
) -> PageParams:
    """FastAPI dependency reading `limit` and `cursor`."""
    # An empty cursor is refused too: it is no cursor this API returned (a null `next_cursor`
    # sent back as empty would otherwise start again at the first page).
    return PageParams(limit=limit, cursor=Cursor.decode(cursor) if cursor is not None else None)
