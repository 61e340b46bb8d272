"""The work accounts that sign in: user principal name, display name, object ID and tenant.

IDs are derived from the account's name, so the same account keeps its `oid` (and so its `sub`
and `client_info`) across sandbox resets, as a real directory user would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

TENANT_DOMAIN = "lakeside.onmicrosoft.com"
# The sandbox directory's tenant ID (`tid`, `utid`), shaped like Entra's GUIDs.
TENANT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, TENANT_DOMAIN))
DEFAULT_ACCOUNT = f"clinician@{TENANT_DOMAIN}"


@dataclass(frozen=True)
class Account:
    """A user in the sandbox's directory (and the owner of one mailbox)."""

    upn: str  # lower case
    display_name: str
    oid: str
    tenant_id: str = TENANT_ID

    def user(self, context: str) -> dict[str, Any]:
        """GET /me: the user resource as Graph shows it."""
        given, _, surname = self.display_name.partition(" ")
        return {
            "@odata.context": context,
            "businessPhones": [],
            "displayName": self.display_name,
            "givenName": given or None,
            "jobTitle": None,
            "mail": self.upn,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": self.upn,
            "id": self.oid,
        }

    def summary(self) -> dict[str, Any]:
        """The account as the control routes list it."""
        return {
            "account": self.upn,
            "display_name": self.display_name,
            "oid": self.oid,
            "tenant_id": self.tenant_id,
        }


def object_id(upn: str) -> str:
    """A stable object ID for an account name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox-user:" + upn.lower()))


def new_account(upn: str, display_name: str | None = None) -> Account:
    """An account for `upn`, named after its local part unless a display name is given."""
    upn = upn.strip().lower()
    if display_name is None:
        local = upn.split("@", 1)[0].replace(".", " ").replace("_", " ")
        display_name = " ".join(word.capitalize() for word in local.split()) or upn
    return Account(upn=upn, display_name=display_name, oid=object_id(upn))
