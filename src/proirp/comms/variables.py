"""The values the product fills into templates for a client (`client.first_name`, …)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from proirp.clients.models import Client
from proirp.comms.templates import KNOWN_VARIABLES
from proirp.config import Settings

# What the product can fill in for any client; a campaign's template may use only these.
KNOWN_NAMES = frozenset(name for name in KNOWN_VARIABLES if name != "unsubscribe_url")


def known_values(client: Client, settings: Settings) -> dict[str, str]:
    return {
        "client.first_name": client.first_name,
        "client.last_name": client.last_name,
        "client.date_of_birth": client.date_of_birth.isoformat() if client.date_of_birth else "",
        "client.email": client.email or "",
        "client.phone": client.phone or "",
        "practice.name": settings.practice_name,
        "practice.phone": settings.practice_phone or "",
    }


def values_for(
    declared: Iterable[str], client: Client, settings: Settings, given: Mapping[str, Any]
) -> dict[str, Any]:
    """Each declared variable's value: what the caller gave, else what the product knows."""
    known = known_values(client, settings)
    values = {name: known[name] for name in declared if name in known}
    values.update(given)
    return values
