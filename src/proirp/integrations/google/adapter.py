"""GoogleCalendar: our CalendarProvider over Google's own libraries.

- OAuth: `google_auth_oauthlib`'s Flow (PKCE S256, offline access, consent) with the endpoints
  Google's OpenID discovery document names under GOOGLE_OAUTH_BASE; refresh through
  `google.oauth2.credentials`.
- Calendar v3: `googleapiclient` with the static discovery document, pointed at
  GOOGLE_API_BASE + /calendar/v3/.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import httplib2
import requests
from google_auth_httplib2 import AuthorizedHttp
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from proirp.integrations.base import ProviderError, ProviderTemporaryError
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
from proirp.integrations.google.errors import PROVIDER, api_error, event_error, token_error
from proirp.integrations.google.events import insert_body, patch_body, rfc3339, to_event
from proirp.integrations.observed import provider_call

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events"
SCOPES = (CALENDAR_SCOPE, "openid", "https://www.googleapis.com/auth/userinfo.email")
PAGE_SIZE = 2500  # the most events.list returns in one page
# Google's default and longest time-to-live for a Calendar channel: 604,800 seconds.
MAX_CHANNEL_LIFETIME = timedelta(days=7)
# How an HTTP error becomes one of ours: (status, body, Retry-After seconds) -> the error.
ErrorMapping = Callable[[int, bytes | str | None, float | None], ProviderError]


@functools.cache
def _calendar_discovery() -> str:
    """Calendar v3's discovery document as shipped in google-api-python-client, read from disk
    once. It stays text: the client library edits the parsed form in place as it builds."""
    document = get_static_doc("calendar", "v3")
    assert document is not None, "google-api-python-client ships calendar.v3.json"
    return str(document)


class GoogleCalendar:
    name = PROVIDER
    # Google limits by rate (answered with 403/429), not by concurrency.
    max_in_flight: int | None = None
    can_revoke = True
    max_push_lifetime = MAX_CHANNEL_LIFETIME
    renews_in_place = False  # a channel is replaced: a new one, then the old one stopped
    # Said only when Google did not confirm the revocation.
    consent_removal: str | None = (
        "Google did not confirm that it withdrew the app's access: open "
        "https://myaccount.google.com/permissions, choose Pro IRP and select Remove access."
    )

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        oauth_base: str,
        api_base: str,
        timeout: float = 10.0,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._oauth_base = oauth_base.rstrip("/")
        self._api_endpoint = api_base.rstrip("/") + "/calendar/v3/"
        self._timeout = timeout
        self._endpoints: dict[str, str] | None = None
        self._lock = threading.Lock()
        if self._oauth_base.startswith("http://"):
            # oauthlib refuses plain HTTP; only the sandbox is served that way (production
            # settings refuse an http:// GOOGLE_OAUTH_BASE).
            os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
        # Google may grant fewer scopes than asked (the user can untick one); oauthlib would
        # raise a bare Warning. The granted scopes are checked below instead.
        os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

    # --- OAuth ----------------------------------------------------------------------------

    def endpoints(self) -> dict[str, str]:
        """The OAuth endpoints from Google's discovery document (fetched once)."""
        with self._lock:
            if self._endpoints is None:
                url = f"{self._oauth_base}/.well-known/openid-configuration"
                with provider_call(PROVIDER, "discovery"):
                    self._endpoints = self._read_discovery(url)
            return self._endpoints

    def _read_discovery(self, url: str) -> dict[str, str]:
        try:
            response = requests.get(url, timeout=self._timeout)
            response.raise_for_status()
            return dict(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise ProviderTemporaryError(
                PROVIDER, None, "Google's sign-in configuration could not be read"
            ) from exc

    def _flow(self, redirect_uri: str, code_verifier: str) -> Flow:
        found = self.endpoints()
        config = {
            "web": {
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "auth_uri": found["authorization_endpoint"],
                "token_uri": found["token_endpoint"],
                "redirect_uris": [redirect_uri],
            }
        }
        return Flow.from_client_config(
            config, scopes=list(SCOPES), redirect_uri=redirect_uri, code_verifier=code_verifier
        )

    def start_authorization(self, *, state: str, redirect_uri: str) -> Authorization:
        """Google's consent URL with PKCE S256; the flow to keep is the code verifier."""
        verifier = secrets.token_urlsafe(64)  # 86 characters: within PKCE's 43 to 128
        url, _state = self._flow(redirect_uri, verifier).authorization_url(
            access_type="offline", prompt="consent", state=state, include_granted_scopes="false"
        )
        return Authorization(url=str(url), flow=verifier)

    @provider_call(PROVIDER, "exchange_code")
    def exchange_code(self, *, code: str, state: str, flow: str, redirect_uri: str) -> TokenSet:
        oauth = self._flow(redirect_uri, flow)  # the flow kept is the PKCE verifier
        try:
            token = oauth.fetch_token(code=code, timeout=self._timeout)
        except OAuth2Error as exc:
            raise token_error(int(exc.status_code or 400), exc.error) from None
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Google could not be reached") from exc
        granted = token.get("scope", [])
        scopes = tuple(granted if isinstance(granted, list) else str(granted).split())
        return token_set(PROVIDER, token, scopes, calendar_granted=CALENDAR_SCOPE in scopes)

    @provider_call(PROVIDER, "account_email")
    def account_email(self, access_token: str) -> str | None:
        url = self.endpoints().get("userinfo_endpoint")
        if not url:
            return None
        try:
            response = requests.get(
                url, headers={"Authorization": f"Bearer {access_token}"}, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Google could not be reached") from exc
        if response.status_code != 200:
            raise api_error(response.status_code, response.content)
        email = response.json().get("email")
        return str(email) if email else None

    @provider_call(PROVIDER, "refresh")
    def refresh(self, refresh_token: str) -> TokenSet:
        credentials = google.oauth2.credentials.Credentials(
            None,
            refresh_token=refresh_token,
            token_uri=self.endpoints()["token_endpoint"],
            client_id=self._client_id,
            client_secret=self._client_secret,
        )
        session = requests.Session()
        try:
            credentials.refresh(google.auth.transport.requests.Request(session))
        except google.auth.exceptions.RefreshError as exc:
            detail = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            error = detail.get("error") if isinstance(detail, dict) else None
            if error is None and "invalid_grant" in str(exc.args[0] if exc.args else ""):
                error = "invalid_grant"
            raise token_error(400, error) from None
        except google.auth.exceptions.TransportError as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Google could not be reached") from exc
        finally:
            session.close()
        expiry = credentials.expiry.replace(tzinfo=UTC) if credentials.expiry else None
        return TokenSet(
            access_token=str(credentials.token),
            expires_at=expiry or datetime.now(UTC) + timedelta(hours=1),
            refresh_token=None,  # Google does not send it again: keep the one we have
        )

    def close(self) -> None:
        """Nothing kept open: each call has its own connection."""

    @provider_call(PROVIDER, "revoke")
    def revoke(self, token: str) -> None:
        url = self.endpoints().get("revocation_endpoint")
        if not url:
            return
        try:
            response = requests.post(url, data={"token": token}, timeout=self._timeout)
        except requests.RequestException as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Google could not be reached") from exc
        if response.status_code >= 500:
            raise ProviderTemporaryError(
                PROVIDER, str(response.status_code), "Google is unavailable"
            )
        # 400 invalid_token: already revoked or expired; nothing left to revoke.

    # --- Calendar v3 ------------------------------------------------------------------------

    def _service(self, access_token: str) -> Any:
        credentials = google.oauth2.credentials.Credentials(access_token)
        # Refreshing is ours (single-flight, stored): the client must not try on its own.
        http = AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=self._timeout), refresh_status_codes=()
        )
        return build_from_document(
            _calendar_discovery(), http=http, client_options={"api_endpoint": self._api_endpoint}
        )

    @staticmethod
    def _run(request: Any, errors: ErrorMapping = api_error) -> Any:
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            retry_after = exc.resp.get("retry-after") if exc.resp is not None else None
            raise errors(
                int(exc.resp.status), exc.content, float(retry_after) if retry_after else None
            ) from None
        except (httplib2.HttpLib2Error, OSError) as exc:
            raise ProviderTemporaryError(PROVIDER, None, "Google could not be reached") from exc

    @provider_call(PROVIDER, "list_changes")
    def list_changes(
        self,
        access_token: str,
        *,
        sync_token: str | None,
        time_min: datetime,
        time_max: datetime,
    ) -> Changes:
        """Every page of events.list: a full window (sync_token None) or the changes since it."""
        service = self._service(access_token)
        changes = Changes()
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {
                "calendarId": "primary",
                "maxResults": PAGE_SIZE,
                "singleEvents": True,
                "showDeleted": sync_token is not None,
            }
            if sync_token:
                params["syncToken"] = sync_token
            else:
                params["timeMin"] = rfc3339(time_min)
                params["timeMax"] = rfc3339(time_max)
            if page_token:
                params["pageToken"] = page_token
            page = self._run(service.events().list(**params))
            changes.calls += 1
            changes.events.extend(to_event(item, "primary") for item in page.get("items", []))
            page_token = page.get("nextPageToken")
            if not page_token:
                changes.next_sync_token = page.get("nextSyncToken")
                return changes

    @provider_call(PROVIDER, "read_calendar")
    def read_calendar(self, access_token: str) -> None:
        now = datetime.now(UTC)
        request = (
            self._service(access_token)
            .events()
            .list(
                calendarId="primary",
                maxResults=1,
                singleEvents=True,
                timeMin=rfc3339(now),
                timeMax=rfc3339(now + timedelta(days=1)),
            )
        )
        self._run(request)

    @provider_call(PROVIDER, "create_event")
    def create_event(self, access_token: str, event: EventInput) -> ProviderEvent:
        events = self._service(access_token).events()
        created = self._run(events.insert(calendarId="primary", body=insert_body(event)))
        return to_event(created, "primary")

    @provider_call(PROVIDER, "update_event")
    def update_event(
        self, access_token: str, event_id: str, change: EventChange, *, etag: str | None
    ) -> ProviderEvent:
        """events.patch with `If-Match`: the event as Google now has it (its new etag)."""
        events = self._service(access_token).events()
        request = events.patch(calendarId="primary", eventId=event_id, body=patch_body(change))
        if etag:
            request.headers["If-Match"] = etag
        return to_event(self._run(request, event_error), "primary")

    @provider_call(PROVIDER, "delete_event")
    def delete_event(self, access_token: str, event_id: str, *, etag: str | None) -> None:
        """events.delete with `If-Match`: Google keeps the event as cancelled (sync reports it)."""
        request = (
            self._service(access_token).events().delete(calendarId="primary", eventId=event_id)
        )
        if etag:
            request.headers["If-Match"] = etag
        self._run(request, event_error)

    # --- push (events.watch, channels.stop) --------------------------------------------------

    @provider_call(PROVIDER, "start_push")
    def start_push(self, access_token: str, request: PushRequest) -> PushChannel:
        """events.watch on the primary calendar: Google posts to `address` on every change."""
        ttl = int((request.expires_at - datetime.now(UTC)).total_seconds())
        body = {
            "id": request.channel_id,
            "type": "web_hook",
            "address": request.address,
            "token": request.secret,
            "params": {"ttl": str(max(ttl, 1))},
        }
        events = self._service(access_token).events()
        made = self._run(events.watch(calendarId="primary", body=body))
        expiration = made.get("expiration")
        expires_at = (
            datetime.fromtimestamp(int(expiration) / 1000, UTC)
            if expiration
            else request.expires_at
        )
        return PushChannel(
            id=str(made.get("id") or request.channel_id),
            resource_id=made.get("resourceId"),
            expires_at=expires_at,
        )

    def renew_push(
        self, access_token: str, channel: PushChannel, expires_at: datetime
    ) -> PushChannel:
        raise NotImplementedError("Google channels are replaced, not renewed")

    @provider_call(PROVIDER, "stop_push")
    def stop_push(self, access_token: str, channel: PushChannel) -> None:
        """channels.stop; a channel Google no longer knows (404) is stopped already."""
        body = {"id": channel.id, "resourceId": channel.resource_id}
        with contextlib.suppress(EventNotAtProvider):
            self._run(self._service(access_token).channels().stop(body=body), event_error)
