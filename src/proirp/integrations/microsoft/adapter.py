"""MicrosoftCalendar: our CalendarProvider over msal (sign-in) and Microsoft Graph (calendar).

- Sign-in: msal's ConfidentialClientApplication with MICROSOFT_AUTHORITY: its own auth code flow
  (PKCE S256, state, nonce), then refresh tokens. Microsoft sends a new refresh token on every
  refresh; the calendar layer stores it in the same transaction (calendars/tokens.py). msal's
  token cache is switched off: tokens live only in our database, encrypted.
- Graph: plain HTTPS to MICROSOFT_GRAPH_BASE with the session from graph.py (Retry-After).
- Both trust MICROSOFT_CA_BUNDLE when it is set (the sandbox's certificate).
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import msal
import requests

from proirp.integrations.base import (
    ProviderError,
    ProviderMisconfigured,
    ProviderPermanentError,
    ProviderTemporaryError,
)
from proirp.integrations.calendar import (
    Authorization,
    Changes,
    EventChange,
    EventInput,
    EventNotAtProvider,
    ProviderEvent,
    PushChannel,
    PushRequest,
    TokenSet,
    token_set,
)
from proirp.integrations.microsoft.errors import (
    PROVIDER,
    api_error,
    event_error,
    retry_after_seconds,
    token_error,
)
from proirp.integrations.microsoft.graph import change_to_graph, http_session, to_event, to_graph
from proirp.integrations.observed import provider_call

# msal adds openid, profile and offline_access (and refuses them here).
SCOPES = ["User.Read", "Calendars.ReadWrite"]
CALENDAR_SCOPE = "Calendars.ReadWrite"
PAGE_SIZE = 500  # events per delta page we ask for (Prefer: odata.maxpagesize)
# Times in UTC and bodies as plain text, whatever the mailbox's own settings.
VIEW = 'outlook.timezone="UTC", outlook.body-content-type="text"'
MAX_IN_FLIGHT = 4  # Outlook's limit of concurrent requests per mailbox
# Graph's longest subscription to Outlook events: 10,080 minutes (a week).
MAX_SUBSCRIPTION_LIFETIME = timedelta(minutes=10080)
SUBSCRIBED_CHANGES = "created,updated,deleted"
CA_BUNDLE_SETTING = "MICROSOFT_CA_BUNDLE"
CA_BUNDLE_MISSING = (
    "MICROSOFT_CA_BUNDLE names no file: set it to a PEM CA bundle, or leave it empty to trust "
    "the system's certificates"
)
CA_BUNDLE_UNREADABLE = "MICROSOFT_CA_BUNDLE could not be read as a PEM CA bundle"
CONSENT_REMOVAL = (
    "Microsoft keeps the app's permission until you remove it: for a work or school account, "
    "open https://myapps.microsoft.com, choose Pro IRP and select Remove (or ask your IT admin); "
    "for a personal account, open https://account.live.com/consent/Manage and remove Pro IRP."
)
# How an HTTP error becomes one of ours: (status, body, Retry-After seconds) -> the error.
ErrorMapping = Callable[[int, bytes | str | None, float | None], ProviderError]


class _NoTokenCache(msal.TokenCache):
    """msal keeps nothing: the calendar layer stores the tokens (encrypted) itself."""

    def add(self, event: dict[str, Any], now: Any = None) -> None:
        return None


class MicrosoftCalendar:
    name = PROVIDER
    max_in_flight: int | None = MAX_IN_FLIGHT
    can_revoke = False  # Microsoft has no revocation endpoint for one app's refresh token
    consent_removal: str | None = CONSENT_REMOVAL
    max_push_lifetime = MAX_SUBSCRIPTION_LIFETIME
    renews_in_place = True

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        authority: str,
        graph_base: str,
        ca_bundle: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = authority.rstrip("/")
        self._graph = graph_base.rstrip("/")
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._graph_session = http_session(ca_bundle, retries=True)

    def _check_ca_bundle(self) -> None:
        """The CA bundle to trust must be a file (requests would fail each call with an OSError)."""
        if self._ca_bundle is not None and not self._ca_bundle.is_file():
            raise ProviderMisconfigured(PROVIDER, CA_BUNDLE_SETTING, CA_BUNDLE_MISSING)

    # --- sign-in (msal) -----------------------------------------------------------------

    def _msal(self) -> msal.ConfidentialClientApplication:
        """msal's application, made once: making it reads the authority's OpenID configuration."""
        self._check_ca_bundle()
        with self._lock:
            if self._app is None:
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self._client_id,
                        client_credential=self._client_secret,
                        authority=self._authority,
                        http_client=http_session(self._ca_bundle, retries=False),
                        instance_discovery=False,  # the authority is the one configured
                        token_cache=_NoTokenCache(),
                        timeout=self._timeout,
                    )
                except (requests.RequestException, ValueError, RuntimeError) as exc:
                    raise ProviderTemporaryError(
                        PROVIDER, None, "Microsoft's sign-in configuration could not be read"
                    ) from exc
                except OSError as exc:  # the CA bundle is there but cannot be read
                    raise ProviderMisconfigured(
                        PROVIDER, CA_BUNDLE_SETTING, CA_BUNDLE_UNREADABLE
                    ) from exc
            return self._app

    def start_authorization(self, *, state: str, redirect_uri: str) -> Authorization:
        """msal's auth code flow (PKCE S256, nonce); the flow to keep is msal's own dict."""
        with warnings.catch_warnings():
            # msal recommends response_mode=form_post; the callback must stay a GET, the only
            # cross-site navigation that carries the staff member's SameSite=Lax session cookie.
            warnings.filterwarnings("ignore", message=".*form_post.*", category=UserWarning)
            flow = self._msal().initiate_auth_code_flow(
                SCOPES, redirect_uri=redirect_uri, state=state, prompt="select_account"
            )
        return Authorization(url=str(flow["auth_uri"]), flow=json.dumps(flow))

    def _tokens(self, result: dict[str, Any]) -> TokenSet:
        if "access_token" not in result:
            raise token_error(result)
        granted = tuple(str(result.get("scope", "")).split())
        # Graph may write scopes in full (https://graph.microsoft.com/Calendars.ReadWrite).
        calendar = not granted or any(s.rsplit("/", 1)[-1] == CALENDAR_SCOPE for s in granted)
        return token_set(PROVIDER, result, granted, calendar_granted=calendar)

    @provider_call(PROVIDER, "exchange_code")
    def exchange_code(self, *, code: str, state: str, flow: str, redirect_uri: str) -> TokenSet:
        started = json.loads(flow)
        try:
            result = self._msal().acquire_token_by_auth_code_flow(
                started, {"code": code, "state": state}, scopes=SCOPES
            )
        except ValueError:  # msal's own checks: the state or the nonce does not match
            raise ProviderPermanentError(
                PROVIDER, "state", "the sign-in answer does not match the one started"
            ) from None
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Microsoft could not be reached") from exc
        return self._tokens(result)

    @provider_call(PROVIDER, "refresh")
    def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens; Microsoft always sends a new refresh token too (and keeps the old one
        valid, so a refresh whose result was not saved can be done again)."""
        try:
            result = self._msal().acquire_token_by_refresh_token(refresh_token, scopes=SCOPES)
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Microsoft could not be reached") from exc
        return self._tokens(result)

    def revoke(self, token: str) -> None:
        """Nothing to call: Microsoft offers no per-app revocation for this flow."""

    def close(self) -> None:
        """Close the kept-alive connections to Microsoft's sign-in and to Graph."""
        self._graph_session.close()
        with self._lock:
            if self._app is not None:
                self._app.http_client.close()
                self._app = None

    # --- Graph --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        access_token: str,
        *,
        body: dict[str, Any] | None = None,
        prefer: str | None = None,
        if_match: str | None = None,
        errors: ErrorMapping = api_error,
    ) -> dict[str, Any]:
        if not url.startswith(self._graph + "/"):
            # A next or delta link comes from Graph; never send a token anywhere else.
            raise ProviderPermanentError(PROVIDER, "link", "a Graph link points elsewhere")
        self._check_ca_bundle()
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            "Prefer": f"{prefer}, {VIEW}" if prefer else VIEW,
        }
        if if_match:
            headers["If-Match"] = if_match
        try:
            response = self._graph_session.request(
                method, url, headers=headers, json=body, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise ProviderTemporaryError(
                PROVIDER, None, "Microsoft Graph could not be reached"
            ) from exc
        except OSError as exc:  # the CA bundle is there but cannot be read
            raise ProviderMisconfigured(PROVIDER, CA_BUNDLE_SETTING, CA_BUNDLE_UNREADABLE) from exc
        if response.status_code >= 300:
            raise errors(
                response.status_code,
                response.content,
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status_code == 204:
            return {}
        answer: dict[str, Any] = response.json()
        return answer

    @provider_call(PROVIDER, "account_email")
    def account_email(self, access_token: str) -> str | None:
        me = self._call("GET", f"{self._graph}/me", access_token)
        email = me.get("mail") or me.get("userPrincipalName")
        return str(email) if email else None

    @provider_call(PROVIDER, "list_changes")
    def list_changes(
        self,
        access_token: str,
        *,
        sync_token: str | None,
        time_min: datetime,
        time_max: datetime,
    ) -> Changes:
        """A delta round over the window: every event (sync_token None), or the changes since
        the stored delta link. `@removed` entries come back as cancelled events."""
        if sync_token:
            url = sync_token
        else:
            window = {
                "startDateTime": time_min.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "endDateTime": time_max.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            }
            url = f"{self._graph}/me/calendarView/delta?{urlencode(window)}"
        changes = Changes()
        while True:
            page = self._call("GET", url, access_token, prefer=f"odata.maxpagesize={PAGE_SIZE}")
            changes.calls += 1
            changes.events.extend(to_event(item) for item in page.get("value", []))
            if page.get("@odata.nextLink"):
                url = str(page["@odata.nextLink"])
                continue
            changes.next_sync_token = page.get("@odata.deltaLink")
            return changes

    @provider_call(PROVIDER, "read_calendar")
    def read_calendar(self, access_token: str) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        window = {
            "startDateTime": now.isoformat().replace("+00:00", "Z"),
            "endDateTime": (now + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "$top": "1",
        }
        self._call("GET", f"{self._graph}/me/calendarView?{urlencode(window)}", access_token)

    @provider_call(PROVIDER, "create_event")
    def create_event(self, access_token: str, event: EventInput) -> ProviderEvent:
        created = self._call("POST", f"{self._graph}/me/events", access_token, body=to_graph(event))
        return to_event(created)

    @provider_call(PROVIDER, "update_event")
    def update_event(
        self, access_token: str, event_id: str, change: EventChange, *, etag: str | None
    ) -> ProviderEvent:
        """PATCH /me/events/{id} with `If-Match`: the event as Outlook now has it (new etag)."""
        updated = self._call(
            "PATCH",
            self._event_url(event_id),
            access_token,
            body=change_to_graph(change),
            if_match=etag,
            errors=event_error,
        )
        return to_event(updated)

    @provider_call(PROVIDER, "delete_event")
    def delete_event(self, access_token: str, event_id: str, *, etag: str | None) -> None:
        """DELETE /me/events/{id} with `If-Match` (delta then reports it as `@removed`)."""
        self._call(
            "DELETE", self._event_url(event_id), access_token, if_match=etag, errors=event_error
        )

    def _event_url(self, event_id: str) -> str:
        # Outlook IDs are base64 and may hold "/" or "+": quoted whole, as one path segment.
        return f"{self._graph}/me/events/{quote(event_id, safe='')}"

    # --- push (Graph subscriptions) ----------------------------------------------------------

    @staticmethod
    def _graph_time(moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    @staticmethod
    def _subscription(answer: dict[str, Any], fallback: datetime) -> PushChannel:
        expires = answer.get("expirationDateTime")
        parsed = datetime.fromisoformat(str(expires).replace("Z", "+00:00")) if expires else None
        return PushChannel(id=str(answer["id"]), resource_id=None, expires_at=parsed or fallback)

    @provider_call(PROVIDER, "start_push")
    def start_push(self, access_token: str, request: PushRequest) -> PushChannel:
        """POST /subscriptions on the user's events; Graph validates both addresses first."""
        body = {
            "changeType": SUBSCRIBED_CHANGES,
            "notificationUrl": request.address,
            "lifecycleNotificationUrl": request.lifecycle_address,
            "resource": "me/events",
            "expirationDateTime": self._graph_time(request.expires_at),
            "clientState": request.secret,
        }
        made = self._call("POST", f"{self._graph}/subscriptions", access_token, body=body)
        return self._subscription(made, request.expires_at)

    @provider_call(PROVIDER, "renew_push")
    def renew_push(
        self, access_token: str, channel: PushChannel, expires_at: datetime
    ) -> PushChannel:
        """PATCH /subscriptions/{id} with a new expirationDateTime (this reauthorizes it too)."""
        url = f"{self._graph}/subscriptions/{quote(channel.id, safe='')}"
        body = {"expirationDateTime": self._graph_time(expires_at)}
        answer = self._call("PATCH", url, access_token, body=body, errors=event_error)
        return self._subscription(answer, expires_at)

    @provider_call(PROVIDER, "stop_push")
    def stop_push(self, access_token: str, channel: PushChannel) -> None:
        """DELETE /subscriptions/{id}; one Graph no longer has (404) is gone already."""
        url = f"{self._graph}/subscriptions/{quote(channel.id, safe='')}"
        with contextlib.suppress(EventNotAtProvider):
            self._call("DELETE", url, access_token, errors=event_error)
