"""Microsoft identity platform v2.0 in the sandbox, over TLS and through msal itself: discovery,
the consent page, codes with PKCE, rotating refresh tokens, revocation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.sandbox.conftest import (
    MAILBOX,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    MICROSOFT_REDIRECT_URI,
    MICROSOFT_SCOPES,
    RunningMicrosoft,
    StartMicrosoft,
)
from tests.sandbox.oauth_helpers import VERIFIER, query_of, s256, with_overrides

pytestmark = pytest.mark.filterwarnings("ignore:response_mode=.form_post. is recommended")

SCOPE = "Calendars.ReadWrite User.Read offline_access openid profile"


def auth_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": MICROSOFT_CLIENT_ID,
        "redirect_uri": MICROSOFT_REDIRECT_URI,
        "response_type": "code",
        "scope": SCOPE,
        "state": "s1",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
    }
    return with_overrides(params, overrides)


def authorize_url(microsoft: RunningMicrosoft) -> str:
    return microsoft.authority + "/oauth2/v2.0/authorize"


def press(
    microsoft: RunningMicrosoft, decision: str = "allow", **overrides: str
) -> requests.Response:
    """Press Allow or Deny on the consent page for these authorize parameters."""
    form = {**auth_params(**overrides), "account": MAILBOX, "decision": decision}
    return microsoft.session.post(
        authorize_url(microsoft), data=form, allow_redirects=False, timeout=10
    )


def code_for(microsoft: RunningMicrosoft, **overrides: str) -> str:
    answer = press(microsoft, **overrides)
    assert answer.status_code == 302, answer.text
    return query_of(answer.headers["location"])["code"]


def token(microsoft: RunningMicrosoft, **form: str) -> requests.Response:
    body = {"client_id": MICROSOFT_CLIENT_ID, "client_secret": MICROSOFT_CLIENT_SECRET, **form}
    return microsoft.session.post(microsoft.authority + "/oauth2/v2.0/token", data=body, timeout=10)


def redeem(microsoft: RunningMicrosoft, code: str, **form: str) -> requests.Response:
    """The token request for a code from code_for (its redirect URI and verifier unless given)."""
    base = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": MICROSOFT_REDIRECT_URI,
        "code_verifier": VERIFIER,
    }
    return token(microsoft, **{**base, **form})


def assert_aadsts(answer: requests.Response, status: int, error: str, code: int) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


# --- discovery -------------------------------------------------------------------------------


def test_discovery_names_https_endpoints_msal_accepts(microsoft: RunningMicrosoft) -> None:
    url = microsoft.authority + "/v2.0/.well-known/openid-configuration"
    document = microsoft.session.get(url, timeout=10).json()
    login = microsoft.root + "/microsoft/login"
    assert document["token_endpoint"] == login + "/common/oauth2/v2.0/token"
    assert document["authorization_endpoint"] == login + "/common/oauth2/v2.0/authorize"
    assert document["issuer"] == login + "/{tenantid}/v2.0"
    assert document["end_session_endpoint"] == login + "/common/oauth2/v2.0/logout"
    assert document["jwks_uri"] == login + "/common/discovery/v2.0/keys"
    assert document["userinfo_endpoint"] == microsoft.root + "/microsoft/graph/oidc/userinfo"
    assert "offline_access" in document["scopes_supported"]
    assert document["response_types_supported"] == ["code"]
    # msal itself reads it (tenant discovery) without complaint.
    app = microsoft.msal_app()
    flow = app.initiate_auth_code_flow(MICROSOFT_SCOPES, redirect_uri=MICROSOFT_REDIRECT_URI)
    assert flow["auth_uri"].startswith(login + "/common/oauth2/v2.0/authorize?")


@pytest.mark.parametrize("tenant", ["organizations", "lakeside.onmicrosoft.com"])
def test_any_tenant_is_an_authority(microsoft: RunningMicrosoft, tenant: str) -> None:
    url = f"{microsoft.root}/microsoft/login/{tenant}/v2.0/.well-known/openid-configuration"
    document = microsoft.session.get(url, timeout=10).json()
    assert document["token_endpoint"].endswith(f"/login/{tenant}/oauth2/v2.0/token")


def test_consent_base_sends_browsers_to_plain_http(start_microsoft: StartMicrosoft) -> None:
    microsoft = start_microsoft(microsoft_consent_base="http://localhost:8080/sandbox")
    url = microsoft.authority + "/v2.0/.well-known/openid-configuration"
    document = microsoft.session.get(url, timeout=10).json()
    assert document["authorization_endpoint"] == (
        "http://localhost:8080/sandbox/microsoft/login/common/oauth2/v2.0/authorize"
    )
    assert document["token_endpoint"].startswith(microsoft.root + "/")


# --- the consent page ------------------------------------------------------------------------


def test_consent_page_names_app_scopes_and_account(microsoft: RunningMicrosoft) -> None:
    page = microsoft.session.get(authorize_url(microsoft), params=auth_params(), timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Pro IRP wants to access your Microsoft account" in page.text
    assert "Calendars.ReadWrite" in page.text
    assert f'value="{MAILBOX}"' in page.text
    assert 'value="allow"' in page.text and 'value="deny"' in page.text
    assert f'action="{authorize_url(microsoft)}"' in page.text
    hinted = microsoft.session.get(
        authorize_url(microsoft), params=auth_params(login_hint="dr.who@contoso.com"), timeout=10
    )
    assert 'value="dr.who@contoso.com"' in hinted.text


def test_unknown_app_gets_an_error_page(microsoft: RunningMicrosoft) -> None:
    params = auth_params(client_id="99999999-0000-4000-8000-000000000000")
    page = microsoft.session.get(authorize_url(microsoft), params=params, timeout=10)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "AADSTS700016" in page.text
    assert "location" not in page.headers


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"response_type": ""}, "invalid_request", "AADSTS900144"),
        ({"response_type": "token"}, "unsupported_response_type", "AADSTS700051"),
        (
            {"scope": "https://outlook.office.com/Mail.Read somewhere:else"},
            "invalid_scope",
            "AADSTS70011",
        ),
        ({"code_challenge_method": "plain"}, "invalid_request", "AADSTS501491"),
        ({"code_challenge": "short"}, "invalid_request", "AADSTS501491"),
    ],
)
def test_bad_requests_go_back_to_the_app(
    microsoft: RunningMicrosoft, overrides: dict[str, str], error: str, code: str
) -> None:
    params = auth_params(**overrides)
    answer = microsoft.session.get(
        authorize_url(microsoft), params=params, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(MICROSOFT_REDIRECT_URI + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["error_description"].startswith(code + ":")
    assert query["state"] == "s1"


def test_deny_redirects_with_access_denied(microsoft: RunningMicrosoft) -> None:
    answer = press(microsoft, decision="deny")
    assert answer.status_code == 302
    assert query_of(answer.headers["location"]) == {
        "error": "access_denied",
        "error_description": "AADSTS65004: User declined to consent to access the app.",
        "state": "s1",
    }
    # msal hands the refusal back as its result.
    app = microsoft.msal_app()
    flow = app.initiate_auth_code_flow(MICROSOFT_SCOPES, redirect_uri=MICROSOFT_REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(
        flow, microsoft.consent(flow["auth_uri"], decision="deny")
    )
    assert result["error"] == "access_denied"
    assert microsoft.control("GET", "stats").json()["consent_denied"] == 2


def test_allow_redirects_with_code_state_and_session_state(microsoft: RunningMicrosoft) -> None:
    answer = press(microsoft, client_info="1")
    query = query_of(answer.headers["location"])
    assert set(query) == {"code", "client_info", "state", "session_state"}
    assert query["state"] == "s1"
    info = json.loads(base64.urlsafe_b64decode(query["client_info"] + "=" * 4))
    assert set(info) == {"uid", "utid"}


def test_form_post_answers_with_a_self_posting_form(microsoft: RunningMicrosoft) -> None:
    answer = press(microsoft, response_mode="form_post")
    assert answer.status_code == 200
    assert f'action="{MICROSOFT_REDIRECT_URI}"' in answer.text
    assert 'name="code"' in answer.text and 'name="state" value="s1"' in answer.text


# --- codes and tokens through msal -----------------------------------------------------------


def test_msal_auth_code_flow_gets_tokens(microsoft: RunningMicrosoft) -> None:
    app = microsoft.msal_app()
    result = microsoft.connect(app)
    assert result["token_type"] == "Bearer"
    assert result["scope"].split() == ["Calendars.ReadWrite", "User.Read", "openid", "profile"]
    assert result["expires_in"] == 3600 and result["ext_expires_in"] == 3600
    assert result["refresh_token"]
    claims = result["id_token_claims"]
    assert claims["aud"] == MICROSOFT_CLIENT_ID
    assert claims["preferred_username"] == MAILBOX
    assert claims["ver"] == "2.0" and claims["tid"] and claims["oid"]
    # msal made an account of it, from client_info.
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [MAILBOX]
    assert accounts[0]["home_account_id"] == f"{claims['oid']}.{claims['tid']}"
    stats = microsoft.control("GET", "stats").json()
    assert stats["token_requests"]["authorization_code"] == 1 and stats["consent_allowed"] == 1


def test_no_refresh_token_without_offline_access(microsoft: RunningMicrosoft) -> None:
    code = code_for(microsoft, scope="Calendars.ReadWrite openid")
    answer = redeem(microsoft, code)
    assert answer.status_code == 200, answer.text
    assert "refresh_token" not in answer.json()
    assert answer.json()["scope"] == "Calendars.ReadWrite openid"


def test_client_secret_in_basic_auth_works_too(microsoft: RunningMicrosoft) -> None:
    code = code_for(microsoft)
    answer = microsoft.session.post(
        microsoft.authority + "/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": MICROSOFT_REDIRECT_URI,
            "code_verifier": VERIFIER,
        },
        auth=(MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_pkce_mismatch_is_invalid_grant(microsoft: RunningMicrosoft) -> None:
    code = code_for(microsoft)
    wrong = redeem(microsoft, code, code_verifier="w" * 43)
    assert_aadsts(wrong, 400, "invalid_grant", 501481)
    missing = token(
        microsoft, grant_type="authorization_code", code=code, redirect_uri=MICROSOFT_REDIRECT_URI
    )
    assert_aadsts(missing, 400, "invalid_grant", 50148)


def test_code_is_single_use(microsoft: RunningMicrosoft) -> None:
    code = code_for(microsoft)
    assert redeem(microsoft, code).status_code == 200
    assert_aadsts(redeem(microsoft, code), 400, "invalid_grant", 54005)


def test_code_expires_after_ten_minutes(
    microsoft: RunningMicrosoft, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = code_for(microsoft)
    later = microsoft.state.now() + 601
    monkeypatch.setattr(microsoft.state, "_clock", lambda: later)
    answer = redeem(microsoft, code)
    assert_aadsts(answer, 400, "invalid_grant", 70008)


def test_redirect_uri_must_match_the_authorize_one(microsoft: RunningMicrosoft) -> None:
    code = code_for(microsoft)
    answer = redeem(microsoft, code, redirect_uri="http://127.0.0.1:9999/elsewhere")
    assert_aadsts(answer, 400, "invalid_grant", 70000)


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"client_secret": "wrong"}, 7000215),
        ({"client_secret": ""}, 7000218),
        ({"client_id": "99999999-0000-4000-8000-000000000000"}, 700016),
    ],
)
def test_bad_client_credentials_are_invalid_client(
    microsoft: RunningMicrosoft, credentials: dict[str, str], code: int
) -> None:
    body = {
        "client_id": MICROSOFT_CLIENT_ID,
        "client_secret": MICROSOFT_CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "x",
        **credentials,
    }
    answer = microsoft.session.post(
        microsoft.authority + "/oauth2/v2.0/token", data=body, timeout=10
    )
    assert_aadsts(answer, 401, "invalid_client", code)


def test_every_refresh_rotates_and_old_refresh_tokens_keep_working(
    microsoft: RunningMicrosoft,
) -> None:
    first = microsoft.connect()["refresh_token"]
    app = microsoft.msal_app()
    second = app.acquire_token_by_refresh_token(first, MICROSOFT_SCOPES)
    assert second["refresh_token"] and second["refresh_token"] != first
    third = app.acquire_token_by_refresh_token(second["refresh_token"], MICROSOFT_SCOPES)
    assert third["refresh_token"] not in (first, second["refresh_token"])
    # Microsoft does not revoke on rotation: the first still works.
    again = app.acquire_token_by_refresh_token(first, MICROSOFT_SCOPES)
    assert "access_token" in again, again
    assert microsoft.graph("GET", "me", again["access_token"]).status_code == 200
    assert microsoft.control("GET", "stats").json()["token_requests"] == {
        "authorization_code": 1,
        "refresh_token": 3,
    }


def test_refresh_for_more_than_consented_needs_consent(microsoft: RunningMicrosoft) -> None:
    refresh = microsoft.connect()["refresh_token"]
    answer = token(
        microsoft,
        grant_type="refresh_token",
        refresh_token=refresh,
        scope="Mail.Read offline_access",
    )
    assert_aadsts(answer, 400, "invalid_grant", 65001)
    assert answer.json()["suberror"] == "consent_required"


def test_unknown_refresh_token_is_invalid_grant(microsoft: RunningMicrosoft) -> None:
    answer = token(microsoft, grant_type="refresh_token", refresh_token="1.AXnot-one-of-ours")
    assert_aadsts(answer, 400, "invalid_grant", 9002313)


def test_revoke_kills_every_refresh_and_access_token(microsoft: RunningMicrosoft) -> None:
    result = microsoft.connect()
    app = microsoft.msal_app()
    rotated = app.acquire_token_by_refresh_token(result["refresh_token"], MICROSOFT_SCOPES)
    revoked = microsoft.control("POST", "revoke", json={"account": MAILBOX.upper()})
    assert revoked.json() == {"revoked_grants": 1}
    for refresh in (result["refresh_token"], rotated["refresh_token"]):
        answer = token(microsoft, grant_type="refresh_token", refresh_token=refresh)
        assert_aadsts(answer, 400, "invalid_grant", 50173)
        assert "revoked" in answer.json()["error_description"]
    refused = app.acquire_token_by_refresh_token(rotated["refresh_token"], MICROSOFT_SCOPES)
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [50173]
    for access in (result["access_token"], rotated["access_token"]):
        assert microsoft.graph("GET", "me", access).status_code == 401
    # Consenting again gives working tokens.
    assert microsoft.graph("GET", "me", microsoft.connect()["access_token"]).status_code == 200


def test_prompt_none_answers_without_the_page_once_consented(microsoft: RunningMicrosoft) -> None:
    params = auth_params(prompt="none", login_hint=MAILBOX)
    before = microsoft.session.get(
        authorize_url(microsoft), params=params, allow_redirects=False, timeout=10
    )
    assert query_of(before.headers["location"])["error"] == "consent_required"
    microsoft.connect()
    after = microsoft.session.get(
        authorize_url(microsoft), params=params, allow_redirects=False, timeout=10
    )
    assert "code" in query_of(after.headers["location"])


def test_token_endpoint_fault_knob(microsoft: RunningMicrosoft) -> None:
    refresh = microsoft.connect()["refresh_token"]
    microsoft.control("POST", "config", json={"token_fail_next": 1})
    failed = token(microsoft, grant_type="refresh_token", refresh_token=refresh)
    assert failed.status_code == 503
    assert failed.json()["error"] == "temporarily_unavailable"
    assert token(microsoft, grant_type="refresh_token", refresh_token=refresh).status_code == 200


def test_access_token_lifetime_knob(microsoft: RunningMicrosoft) -> None:
    microsoft.control("POST", "config", json={"access_token_seconds": 120})
    assert microsoft.connect()["expires_in"] == 120
    assert microsoft.control("POST", "reset").json()["config"]["access_token_seconds"] == 3600


def test_control_routes_need_the_client_credentials(microsoft: RunningMicrosoft) -> None:
    answer = microsoft.control("GET", "stats", auth=(MICROSOFT_CLIENT_ID, "wrong"))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
