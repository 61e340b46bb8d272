"""Twilio's FetchAccount (`GET /2010-04-01/Accounts/{AccountSid}.json`), as the official SDK
calls it for `client.api.v2010.accounts(sid).fetch()`.

The sandbox has one account, the one its credentials belong to: that account answers in
Twilio's Account shape (which, as Twilio's does, carries the auth token: a caller must never
print it); any other SID is Twilio's 404 (20404), as for an account the credentials cannot see.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.twilio.errors import TwilioApiError
from proirp.sandbox.twilio.messages import API_VERSION, rfc2822
from proirp.sandbox.twilio.state import TwilioSandbox

ACCOUNT_PATH = "/2010-04-01/Accounts/{AccountSid}.json"
FRIENDLY_NAME = "Pro IRP sandbox account"

# subresource_uris keys -> the path under the account, as Twilio lists them.
SUBRESOURCES = {
    "available_phone_numbers": "AvailablePhoneNumbers",
    "calls": "Calls",
    "conferences": "Conferences",
    "incoming_phone_numbers": "IncomingPhoneNumbers",
    "notifications": "Notifications",
    "outgoing_caller_ids": "OutgoingCallerIds",
    "recordings": "Recordings",
    "transcriptions": "Transcriptions",
    "addresses": "Addresses",
    "signing_keys": "SigningKeys",
    "connect_apps": "ConnectApps",
    "sip": "SIP",
    "authorized_connect_apps": "AuthorizedConnectApps",
    "usage": "Usage",
    "keys": "Keys",
    "applications": "Applications",
    "short_codes": "SMS/ShortCodes",
    "queues": "Queues",
    "messages": "Messages",
    "balance": "Balance",
}


def account_uri(account_sid: str) -> str:
    """The Twilio-relative URI of an account."""
    return f"/{API_VERSION}/Accounts/{account_sid}.json"


def account_resource(account_sid: str, auth_token: str, created: datetime) -> dict[str, object]:
    """A main (not sub-) account in Twilio's shape: it owns itself, active, Full."""
    base = f"/{API_VERSION}/Accounts/{account_sid}"
    return {
        "auth_token": auth_token,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(created),
        "friendly_name": FRIENDLY_NAME,
        "owner_account_sid": account_sid,
        "sid": account_sid,
        "status": "active",
        "subresource_uris": {name: f"{base}/{path}.json" for name, path in SUBRESOURCES.items()},
        "type": "Full",
        "uri": account_uri(account_sid),
    }


def accounts_router(sandbox: TwilioSandbox) -> APIRouter:
    """The FetchAccount route (read-only; the sandbox neither creates nor updates accounts)."""
    router = APIRouter(route_class=SandboxRoute, tags=["twilio"])
    # The account "was created" when the sandbox started; a reset keeps it.
    created = datetime.now(UTC).replace(microsecond=0)

    @router.get(ACCOUNT_PATH)
    async def fetch_account(AccountSid: str, request: Request) -> Response:
        # Latency first: a real API makes you wait for its refusals too.
        await sandbox.pause()
        sandbox.authenticate(request.headers.get("authorization"))
        config = sandbox.config
        if AccountSid != config.twilio_account_sid:
            raise TwilioApiError(20404, uri=account_uri(AccountSid))
        resource = account_resource(AccountSid, config.twilio_auth_token, created)
        return JSONResponse(resource)

    return router
