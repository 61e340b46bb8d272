"""Google OAuth 2.0 in the sandbox: discovery, consent page, code exchange with PKCE, refresh,
invalid_grant, revoke and userinfo — over HTTP and through google-auth-oauthlib / google-auth."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from fastapi import FastAPI
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError

from proirp.sandbox.app import create_sandbox_app
from tests.sandbox.conftest import (
    CALENDAR_SCOPE,
    CLINICIAN,
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_REDIRECT_URI,
    RunningGoogle,
    google_config,
    serve,
)
from tests.sandbox.oauth_helpers import VERIFIER, query_of, s256, with_overrides


def auth_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": GOOGLE_CLIENT_ID,
        "redirect_uri": GOOGLE_REDIRECT_URI,
        "response_type": "code",
        "scope": CALENDAR_SCOPE,
        "state": "s1",
    }
    return with_overrides(params, overrides)


@pytest.fixture
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses http:// endpoints without this; the sandbox here is plain http."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


# --- discovery -------------------------------------------------------------------------------


def test_discovery_names_absolute_endpoints(google: RunningGoogle) -> None:
    answer = requests.get(google.oauth_base + "/.well-known/openid-configuration", timeout=10)
    assert answer.status_code == 200
    document = answer.json()
    assert document["issuer"] == google.oauth_base
    assert document["authorization_endpoint"] == google.oauth_base + "/o/oauth2/v2/auth"
    assert document["token_endpoint"] == google.oauth_base + "/token"
    assert document["revocation_endpoint"] == google.oauth_base + "/revoke"
    assert document["userinfo_endpoint"] == google.api_base + "/oauth2/v3/userinfo"
    assert document["code_challenge_methods_supported"] == ["plain", "S256"]


@pytest.fixture
def mounted_root() -> Iterator[str]:
    """The sandbox mounted under /sandbox inside another app, as the product mounts it."""
    outer = FastAPI()
    outer.mount("/sandbox", create_sandbox_app(google_config()))
    with serve(outer) as root:
        yield root


def test_discovery_follows_the_mount_path(mounted_root: str) -> None:
    base = mounted_root + "/sandbox/google/oauth"
    document = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
    assert document["token_endpoint"] == base + "/token"
    assert document["userinfo_endpoint"] == (
        mounted_root + "/sandbox/google/api/oauth2/v3/userinfo"
    )
    page = requests.get(document["authorization_endpoint"], params=auth_params(), timeout=10)
    assert f'action="{base}/o/oauth2/v2/auth"' in page.text


# --- the consent page ------------------------------------------------------------------------


def test_consent_page_asks_with_allow_and_deny(google: RunningGoogle) -> None:
    url = google.oauth_base + "/o/oauth2/v2/auth"
    page = requests.get(url, params=auth_params(login_hint="dr.who@example.org"), timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Pro IRP wants to access your Google Calendar" in page.text
    assert CALENDAR_SCOPE in page.text
    assert 'value="dr.who@example.org"' in page.text
    assert 'value="allow"' in page.text and 'value="deny"' in page.text
    default = requests.get(url, params=auth_params(), timeout=10)
    assert f'value="{CLINICIAN}"' in default.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": ""}, "invalid_request"),
        ({"client_id": "someone-else.apps.googleusercontent.com"}, "invalid_client"),
        ({"redirect_uri": ""}, "invalid_request"),
        ({"redirect_uri": "not-a-url"}, "redirect_uri_mismatch"),
        ({"response_type": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": ""}, "invalid_request"),
        ({"access_type": "forever"}, "invalid_request"),
        ({"code_challenge": "abc", "code_challenge_method": "S512"}, "invalid_request"),
    ],
)
def test_bad_authorization_requests_get_an_error_page_not_a_redirect(
    google: RunningGoogle, overrides: dict[str, str], error: str
) -> None:
    answer = requests.get(
        google.oauth_base + "/o/oauth2/v2/auth",
        params=auth_params(**overrides),
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert f"Error 400: <code>{error}</code>" in answer.text


def test_allow_redirects_with_code_state_and_scope(google: RunningGoogle) -> None:
    answer = google.consent(state="st-1")
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(GOOGLE_REDIRECT_URI + "?")
    query = query_of(location)
    assert query["code"].startswith("4/")
    assert query["state"] == "st-1"
    assert query["scope"] == CALENDAR_SCOPE


def test_deny_redirects_with_access_denied(google: RunningGoogle) -> None:
    answer = google.consent(decision="deny", state="st-2")
    assert answer.status_code == 302
    assert query_of(answer.headers["location"]) == {"error": "access_denied", "state": "st-2"}
    assert google.state.stats()["consent_denied"] == 1


# --- the token endpoint ----------------------------------------------------------------------


def code_for(google: RunningGoogle, **consent: str) -> str:
    return query_of(google.consent(**consent).headers["location"])["code"]


def test_code_exchange_with_pkce(google: RunningGoogle) -> None:
    code = code_for(google, challenge=s256(VERIFIER))
    answer = google.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=GOOGLE_REDIRECT_URI,
        code_verifier=VERIFIER,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == CALENDAR_SCOPE
    assert body["refresh_token"].startswith("1//")
    assert answer.headers["cache-control"].startswith("no-cache, no-store")
    assert google.state.stats()["token_exchange"] == 1


def test_client_credentials_may_come_as_http_basic(google: RunningGoogle) -> None:
    code = code_for(google)
    answer = requests.post(
        google.oauth_base + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": GOOGLE_REDIRECT_URI,
        },
        auth=(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("verifier", "description"),
    [(None, "Missing code verifier."), ("w" * 43, "Invalid code verifier.")],
)
def test_wrong_pkce_verifier_is_invalid_grant(
    google: RunningGoogle, verifier: str | None, description: str
) -> None:
    code = code_for(google, challenge=s256(VERIFIER))
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": GOOGLE_REDIRECT_URI}
    if verifier is not None:
        form["code_verifier"] = verifier
    answer = google.token(**form)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": description}


def test_redirect_uri_must_match(google: RunningGoogle) -> None:
    code = code_for(google)
    answer = google.token(
        grant_type="authorization_code", code=code, redirect_uri="http://127.0.0.1:8080/other"
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "redirect_uri_mismatch"


def test_reused_code_is_invalid_grant_and_revokes_what_it_gave(google: RunningGoogle) -> None:
    code = code_for(google)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": GOOGLE_REDIRECT_URI}
    first = google.token(**form).json()
    again = google.token(**form)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Bad Request"}
    refreshed = google.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert google.api("GET", "users/me/calendarList", first["access_token"]).status_code == 401


def test_code_expires_after_ten_minutes(
    google: RunningGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = code_for(google)
    later = google.state.now() + 601
    monkeypatch.setattr(google.state, "_clock", lambda: later)
    answer = google.token(
        grant_type="authorization_code", code=code, redirect_uri=GOOGLE_REDIRECT_URI
    )
    assert answer.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


def test_refresh_token_only_with_offline_access(google: RunningGoogle) -> None:
    code = code_for(google, access_type="online", prompt="")
    answer = google.token(
        grant_type="authorization_code", code=code, redirect_uri=GOOGLE_REDIRECT_URI
    ).json()
    assert "refresh_token" not in answer


def test_refresh_token_again_only_when_consent_is_forced(google: RunningGoogle) -> None:
    google.connect()
    code = code_for(google, prompt="select_account")
    answer = google.token(
        grant_type="authorization_code", code=code, redirect_uri=GOOGLE_REDIRECT_URI
    ).json()
    assert "refresh_token" not in answer
    assert "refresh_token" in google.connect()  # prompt=consent


def test_refresh_returns_no_new_refresh_token(google: RunningGoogle) -> None:
    tokens = google.connect()
    answer = google.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["access_token"] != tokens["access_token"]
    assert google.api("GET", "users/me/calendarList", body["access_token"]).status_code == 200
    assert google.state.stats()["token_refresh"] == 1


def test_unknown_refresh_token_is_invalid_grant(google: RunningGoogle) -> None:
    answer = google.token(grant_type="refresh_token", refresh_token="1//nope")
    assert answer.status_code == 400
    assert answer.json()["error_description"] == "Token has been expired or revoked."


@pytest.mark.parametrize(
    ("client_id", "secret", "description"),
    [
        (
            "someone-else.apps.googleusercontent.com",
            GOOGLE_CLIENT_SECRET,
            "The OAuth client was not found.",
        ),
        (GOOGLE_CLIENT_ID, "wrong", "Unauthorized"),
    ],
)
def test_bad_client_is_401_invalid_client(
    google: RunningGoogle, client_id: str, secret: str, description: str
) -> None:
    tokens = google.connect()
    answer = requests.post(
        google.oauth_base + "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client_id,
            "client_secret": secret,
        },
        timeout=10,
    )
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_client", "error_description": description}


def test_unsupported_grant_type(google: RunningGoogle) -> None:
    answer = google.token(grant_type="password")
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


def test_id_token_with_openid_scope(google: RunningGoogle) -> None:
    tokens = google.connect(scope=f"openid email {CALENDAR_SCOPE}")
    payload = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == GOOGLE_CLIENT_ID
    assert claims["email"] == CLINICIAN
    assert claims["iss"] == google.oauth_base
    # Google widens "email" in what it grants (oauthlib then warns that the scope changed).
    assert tokens["scope"].split() == [
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        CALENDAR_SCOPE,
    ]


# --- revoke and userinfo ---------------------------------------------------------------------


def test_revoke_refresh_token_kills_its_access_tokens(google: RunningGoogle) -> None:
    tokens = google.connect()
    answer = requests.post(
        google.oauth_base + "/revoke", params={"token": tokens["refresh_token"]}, timeout=10
    )
    assert answer.status_code == 200
    assert google.api("GET", "users/me/calendarList", tokens["access_token"]).status_code == 401
    refreshed = google.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"
    again = requests.post(
        google.oauth_base + "/revoke", data={"token": tokens["refresh_token"]}, timeout=10
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"


def test_revoke_by_access_token_revokes_the_grant(google: RunningGoogle) -> None:
    tokens = google.connect()
    answer = requests.post(
        google.oauth_base + "/revoke", data={"token": tokens["access_token"]}, timeout=10
    )
    assert answer.status_code == 200
    refreshed = google.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"


def test_userinfo(google: RunningGoogle) -> None:
    tokens = google.connect(account="Dr.Who@Example.org", scope=f"openid email {CALENDAR_SCOPE}")
    url = google.api_base + "/oauth2/v3/userinfo"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = requests.get(url, headers=headers, timeout=10).json()
    assert info["email"] == "dr.who@example.org"
    assert info["email_verified"] is True
    assert info["sub"].isdigit() and len(info["sub"]) == 21
    refused = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "invalid_request",
        "error_description": "Invalid Credentials",
    }


def test_userinfo_without_email_scope_has_only_sub(google: RunningGoogle) -> None:
    tokens = google.connect()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = requests.get(google.api_base + "/oauth2/v3/userinfo", headers=headers, timeout=10)
    assert set(info.json()) == {"sub"}


# --- the official clients --------------------------------------------------------------------


def official_flow(google: RunningGoogle, scopes: list[str]) -> tuple[Flow, str]:
    """google-auth-oauthlib's Flow through the consent page (Allow); the flow and the code."""
    document = requests.get(
        google.oauth_base + "/.well-known/openid-configuration", timeout=10
    ).json()
    flow = Flow.from_client_config(
        {
            "web": {
                "client_id": GOOGLE_CLIENT_ID,
                "client_secret": GOOGLE_CLIENT_SECRET,
                "auth_uri": document["authorization_endpoint"],
                "token_uri": document["token_endpoint"],
                "redirect_uris": [GOOGLE_REDIRECT_URI],
            }
        },
        scopes=scopes,
        redirect_uri=GOOGLE_REDIRECT_URI,
        autogenerate_code_verifier=True,
    )
    url, state = flow.authorization_url(access_type="offline", prompt="consent", state="st-9")
    assert state == "st-9"
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    form = {**dict(parse_qsl(urlsplit(url).query)), "account": CLINICIAN, "decision": "allow"}
    redirect = requests.post(url.split("?")[0], data=form, allow_redirects=False, timeout=10)
    query = query_of(redirect.headers["location"])
    assert query["state"] == "st-9"
    return flow, query["code"]


def test_official_flow_and_credentials(google: RunningGoogle, insecure_transport: None) -> None:
    scopes = ["openid", "https://www.googleapis.com/auth/userinfo.email", CALENDAR_SCOPE]
    flow, code = official_flow(google, scopes)
    token = flow.fetch_token(code=code)
    assert token["refresh_token"] and token["id_token"]

    credentials = Credentials(
        None,
        refresh_token=flow.credentials.refresh_token,
        token_uri=google.oauth_base + "/token",
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
    )
    credentials.refresh(AuthRequest())
    assert credentials.token and credentials.token != flow.credentials.token
    assert credentials.refresh_token == flow.credentials.refresh_token  # kept, not re-sent

    google.control("POST", "revoke", json={"account": CLINICIAN})
    with pytest.raises(RefreshError, match="invalid_grant"):
        credentials.refresh(AuthRequest())


def test_oauthlib_refuses_the_http_sandbox_without_insecure_transport(
    google: RunningGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    flow = Flow.from_client_config(
        {
            "web": {
                "client_id": GOOGLE_CLIENT_ID,
                "client_secret": GOOGLE_CLIENT_SECRET,
                "auth_uri": google.oauth_base + "/o/oauth2/v2/auth",
                "token_uri": google.oauth_base + "/token",
            }
        },
        scopes=[CALENDAR_SCOPE],
        redirect_uri=GOOGLE_REDIRECT_URI,
    )
    with pytest.raises(InsecureTransportError):
        flow.authorization_url()


def test_short_email_scope_trips_oauthlibs_scope_check(
    google: RunningGoogle, insecure_transport: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As with Google: "email" is granted as the userinfo.email URL, and oauthlib objects.
    flow, code = official_flow(google, ["openid", "email", CALENDAR_SCOPE])
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    with pytest.raises(Warning, match="Scope has changed"):
        flow.fetch_token(code=code)
