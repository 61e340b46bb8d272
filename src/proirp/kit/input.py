"""What the product takes from outside: text without NUL characters, no longer than where it is
stored.

PostgreSQL refuses a NUL character in any text and a value longer than its column; SQLite stores
both. So both are refused at the edge, the same on every database, with a 422 naming the field:
- `RequestBody` is the base of every request body (and of every provider payload the product
  reads): no field may hold a NUL, however deep in lists and objects;
- `StoredIn(Model.column)` bounds a text field by the width of the column it is stored in;
- `refuse_nul_in_url` (a dependency of every route) refuses a NUL in a path or query parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast

from fastapi import Request
from pydantic import BaseModel, GetCoreSchemaHandler, field_validator
from pydantic_core import core_schema
from sqlalchemy import String
from sqlalchemy.orm import InstrumentedAttribute

from proirp.kit.crypto import EncryptedText
from proirp.kit.errors import ValidationFailed

NUL = "\x00"
NUL_REFUSED = "must not contain NUL characters"


def holds_nul(value: object) -> bool:
    """Whether `value` (text, or lists and objects of it) holds a NUL character anywhere."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Mapping):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_nul(item) for item in value)
    return False


class RequestBody(BaseModel):
    """The base of every body the product reads: a NUL in any field is refused, naming it."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if holds_nul(value):
            raise ValueError(NUL_REFUSED)
        return value


def column_width(column: InstrumentedAttribute[Any]) -> int:
    """The width of a `String(n)` column, or of the plaintext an `EncryptedText(width)` holds."""
    kind = column.property.columns[0].type
    if isinstance(kind, EncryptedText) and kind.width is not None:
        return kind.width
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column} is not a column of a fixed width")
    return kind.length


class StoredIn:
    """Annotated metadata for a text field stored in `column`: its value may be no longer than
    the column is wide (a shorter `max_length` of the field's own still applies)."""

    def __init__(self, column: InstrumentedAttribute[Any]) -> None:
        self.column = f"{column.class_.__tablename__}.{column.key}"
        self.max_length = column_width(column)

    def __repr__(self) -> str:
        return f"StoredIn({self.column}, {self.max_length})"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        if schema["type"] != "str":
            raise TypeError(f"StoredIn({self.column}) bounds text, not {schema['type']}")
        text = cast(core_schema.StringSchema, schema)
        own = text.get("max_length")
        text["max_length"] = self.max_length if own is None else min(own, self.max_length)
        return text


def refuse_nul_in_url(request: Request) -> None:
    """A NUL in a path or query parameter is refused before anything reads it (a 422 naming
    the parameter): a lookup with it would fail on PostgreSQL."""
    fields = {
        name: NUL_REFUSED
        for name, value in [*request.path_params.items(), *request.query_params.multi_items()]
        if holds_nul(name) or holds_nul(value)
    }
    if fields:
        summary = "; ".join(f"{name}: {NUL_REFUSED}" for name in fields)
        raise ValidationFailed(f"invalid request: {summary}", fields=fields)


# The years a date the product is given may fall in: an appointment, a week to show, a filter.
# Far beyond them, a day or a time zone added to a date leaves what Python's dates can hold.
FIRST_YEAR, LAST_YEAR = 1970, 2199
YEARS_REFUSED = f"must be between {FIRST_YEAR} and {LAST_YEAR}"


def in_years(value: datetime | date) -> bool:
    return FIRST_YEAR <= value.year <= LAST_YEAR


def day_of(name: str, value: str) -> date:
    """A date as YYYY-MM-DD within the years above; else a 422 naming `name`."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{name} is not a date", fields={name: "must be a date as YYYY-MM-DD"}
        ) from None
    if not in_years(day):
        raise ValidationFailed(f"{name} {YEARS_REFUSED}", fields={name: YEARS_REFUSED})
    return day


# A query parameter that is an ISO 8601 time: so described, and read by iso_time().
DATE_TIME = {"format": "date-time"}


def iso_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with an offset; nothing else (not a number of seconds)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{name} is not an ISO 8601 time", fields={name: "ISO 8601 with an offset, e.g. ...Z"}
        ) from None
    if when.tzinfo is None:
        raise ValidationFailed(
            f"{name} needs a UTC offset", fields={name: "ISO 8601 with an offset, e.g. ...Z"}
        )
    return when
