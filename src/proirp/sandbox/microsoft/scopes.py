"""Scopes as the identity platform reads them: OpenID Connect scopes and Microsoft Graph's
delegated permissions, short ("Calendars.ReadWrite") or prefixed
("https://graph.microsoft.com/Calendars.ReadWrite")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from proirp.sandbox.microsoft.errors import INVALID_SCOPE, IdentityError

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_PREFIXES = ("https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000/")
# What `.default` stands for: the permissions the sandbox's app registration lists.
DEFAULT_PERMISSIONS = ("User.Read", "Calendars.ReadWrite")
# Graph permissions by lower-case name, to report them in Microsoft's casing.
KNOWN_PERMISSIONS = {
    name.lower(): name
    for name in (
        "User.Read",
        "User.ReadBasic.All",
        "User.Read.All",
        "User.ReadWrite",
        "Calendars.Read",
        "Calendars.ReadBasic",
        "Calendars.ReadWrite",
        "Calendars.Read.Shared",
        "Calendars.ReadWrite.Shared",
        "MailboxSettings.Read",
        "MailboxSettings.ReadWrite",
    )
}
PERMISSION = re.compile(r"[A-Za-z]+(?:\.[A-Za-z]+)+")

USER_READ_SCOPES = frozenset({"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All"})
EVENT_WRITE_SCOPES = frozenset({"Calendars.ReadWrite", "Calendars.ReadWrite.Shared"})
EVENT_READ_SCOPES = EVENT_WRITE_SCOPES | {"Calendars.Read", "Calendars.Read.Shared"}


@dataclass(frozen=True)
class Scopes:
    """A request's scopes: Graph permissions and OpenID Connect scopes, each once, in order."""

    graph: tuple[str, ...]
    oidc: tuple[str, ...]

    @property
    def offline(self) -> bool:
        """Whether a refresh token was asked for."""
        return "offline_access" in self.oidc

    def granted(self) -> str:
        """The `scope` of a token response: Graph permissions and the OpenID scopes, never
        offline_access (Microsoft does not report it back)."""
        return " ".join(self.graph + tuple(s for s in self.oidc if s != "offline_access"))


def parse_scopes(value: str | None) -> Scopes:
    """Read a space-separated scope list; invalid_scope (AADSTS70011) for anything that is
    neither an OpenID scope nor a Graph permission."""
    graph: list[str] = []
    oidc: list[str] = []
    for scope in (value or "").split():
        lowered = scope.lower()
        if lowered in OIDC_SCOPES:
            if lowered not in oidc:
                oidc.append(lowered)
            continue
        for prefix in GRAPH_PREFIXES:
            if lowered.startswith(prefix):
                scope = scope[len(prefix) :]
                break
        if scope.lower() == ".default":
            names = list(DEFAULT_PERMISSIONS)
        elif PERMISSION.fullmatch(scope):
            names = [KNOWN_PERMISSIONS.get(scope.lower(), scope)]
        else:
            raise IdentityError(400, "invalid_scope", INVALID_SCOPE)
        for name in names:
            if name.lower() not in {g.lower() for g in graph}:
                graph.append(name)
    if not graph and oidc:
        # A sign-in with OpenID scopes alone still gets a Graph token, for User.Read.
        graph.append("User.Read")
    return Scopes(graph=tuple(graph), oidc=tuple(oidc))
