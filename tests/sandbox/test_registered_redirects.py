"""The sandbox's sign-in pages send a browser, and a code, only to a redirect URI registered for
its client, as Google and Microsoft do: mounted in `proirp serve` they are on the product's own
origin, where any other address would make them an open redirect."""

from __future__ import annotations

import pytest
import requests

from proirp.config import Settings, SettingsError, load_settings
from proirp.sandbox.from_settings import sandbox_config
from tests.sandbox.conftest import (
    CALENDAR_SCOPE,
    CLINICIAN,
    GOOGLE_CLIENT_ID,
    GOOGLE_REDIRECT_URI,
    MAILBOX,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_REDIRECT_URI,
    RunningGoogle,
    RunningMicrosoft,
)
from tests.sandbox.oauth_helpers import VERIFIER, query_of, s256

pytestmark = pytest.mark.filterwarnings("ignore:response_mode=.form_post. is recommended")

EVIL = "https://evil.example/steal"
# Near misses: each differs from a registered URI in one part only.
NEAR_GOOGLE = (
    EVIL,
    GOOGLE_REDIRECT_URI + "?next=https://evil.example/",
    GOOGLE_REDIRECT_URI.replace(":8080", ":8081"),
    GOOGLE_REDIRECT_URI.replace("http://", "https://"),
    GOOGLE_REDIRECT_URI + "/",
    MICROSOFT_REDIRECT_URI,  # registered, but for the other provider's client
)
NEAR_MICROSOFT = (
    EVIL,
    MICROSOFT_REDIRECT_URI + "?next=https://evil.example/",
    MICROSOFT_REDIRECT_URI.replace("127.0.0.1", "127.0.0.2"),
    GOOGLE_REDIRECT_URI,
)


def assert_refused_page(answer: requests.Response, wording: str) -> None:
    """An error page in the browser: no redirect, no code, no form that posts anywhere."""
    assert answer.status_code == 400, answer.text
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert wording in answer.text
    assert "<form" not in answer.text
    assert "code=" not in answer.text


# --- Google ----------------------------------------------------------------------------------


def google_params(redirect_uri: str) -> dict[str, str]:
    return {
        "client_id": GOOGLE_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": CALENDAR_SCOPE,
        "state": "s1",
        "access_type": "offline",
    }


@pytest.mark.parametrize("redirect_uri", NEAR_GOOGLE)
def test_google_authorize_page_refuses_an_unregistered_redirect_uri(
    google: RunningGoogle, redirect_uri: str
) -> None:
    url = google.oauth_base + "/o/oauth2/v2/auth"
    page = requests.get(url, params=google_params(redirect_uri), allow_redirects=False, timeout=10)
    assert_refused_page(page, "redirect_uri_mismatch")


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_google_consent_form_posted_with_an_unregistered_redirect_uri_sends_nobody_there(
    google: RunningGoogle, decision: str
) -> None:
    """A forged form (the page was never shown) is checked again: no code is made."""
    form = {**google_params(EVIL), "account": CLINICIAN, "decision": decision}
    url = google.oauth_base + "/o/oauth2/v2/auth"
    answer = requests.post(url, data=form, allow_redirects=False, timeout=10)
    assert_refused_page(answer, "redirect_uri_mismatch")
    stats = google.control("GET", "stats").json()
    assert stats.get("consent_allowed", 0) == stats.get("consent_denied", 0) == 0


def test_google_registered_redirect_uri_still_gets_the_code(google: RunningGoogle) -> None:
    answer = google.consent()
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(GOOGLE_REDIRECT_URI + "?")
    assert "code" in query_of(answer.headers["location"])


# --- Microsoft -------------------------------------------------------------------------------


def microsoft_params(redirect_uri: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": MICROSOFT_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "Calendars.ReadWrite User.Read offline_access",
        "state": "s1",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
        **extra,
    }


@pytest.mark.parametrize("redirect_uri", NEAR_MICROSOFT)
@pytest.mark.parametrize(
    "extra",
    [{}, {"prompt": "none"}, {"response_mode": "form_post"}, {"response_type": "token"}],
    ids=["page", "prompt-none", "form-post", "bad-response-type"],
)
def test_microsoft_authorize_refuses_an_unregistered_redirect_uri(
    microsoft: RunningMicrosoft, redirect_uri: str, extra: dict[str, str]
) -> None:
    """Not even an error travels there (AADSTS50011 on the page instead)."""
    url = microsoft.authority + "/oauth2/v2.0/authorize"
    page = microsoft.session.get(
        url, params=microsoft_params(redirect_uri, **extra), allow_redirects=False, timeout=10
    )
    assert_refused_page(page, "AADSTS50011")


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_microsoft_consent_form_posted_with_an_unregistered_redirect_uri_sends_nobody_there(
    microsoft: RunningMicrosoft, decision: str
) -> None:
    form = {**microsoft_params(EVIL), "account": MAILBOX, "decision": decision}
    url = microsoft.authority + "/oauth2/v2.0/authorize"
    answer = microsoft.session.post(url, data=form, allow_redirects=False, timeout=10)
    assert_refused_page(answer, "AADSTS50011")


def test_microsoft_sign_in_through_msal_still_works(microsoft: RunningMicrosoft) -> None:
    assert "access_token" in microsoft.connect()


@pytest.mark.parametrize("target", NEAR_MICROSOFT)
def test_microsoft_logout_refuses_an_unregistered_post_logout_redirect_uri(
    microsoft: RunningMicrosoft, target: str
) -> None:
    url = microsoft.authority + "/oauth2/v2.0/logout"
    answer = microsoft.session.get(
        url, params={"post_logout_redirect_uri": target}, allow_redirects=False, timeout=10
    )
    assert_refused_page(answer, "AADSTS50011")


def test_microsoft_logout_goes_back_to_a_registered_uri(microsoft: RunningMicrosoft) -> None:
    url = microsoft.authority + "/oauth2/v2.0/logout"
    back = microsoft.session.get(
        url,
        params={"post_logout_redirect_uri": MICROSOFT_REDIRECT_URI},
        allow_redirects=False,
        timeout=10,
    )
    assert back.status_code == 302
    assert back.headers["location"] == MICROSOFT_REDIRECT_URI
    signed_out = microsoft.session.get(url, allow_redirects=False, timeout=10)
    assert signed_out.status_code == 200
    assert "signed out" in signed_out.text


# --- what the sandbox registers, from the product's settings ---------------------------------


def test_the_products_own_callbacks_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PUBLIC_BASE_URL", "GOOGLE_REDIRECT_URI", "MICROSOFT_REDIRECT_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SANDBOX_REDIRECT_URIS", raising=False)
    config = sandbox_config(Settings(_env_file=None, public_base_url="https://irp.example.org"))
    assert "https://irp.example.org/calendar/google/callback" in config.google_redirect_uris
    assert "https://irp.example.org/calendar/microsoft/callback" in config.microsoft_redirect_uris
    assert not any("evil" in uri for uri in config.google_redirect_uris)


def test_configured_redirect_uris_are_registered_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PUBLIC_BASE_URL", "SANDBOX_REDIRECT_URIS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        _env_file=None,
        google_redirect_uri="http://127.0.0.1:9000/calendar/google/callback",
        microsoft_redirect_uri="http://127.0.0.1:9000/calendar/microsoft/callback",
        sandbox_redirect_uris="http://10.0.0.5:8080/calendar/google/callback, "
        "http://10.0.0.5:8080/calendar/microsoft/callback",
    )
    config = sandbox_config(settings)
    assert config.google_redirect_uris == (
        "http://localhost:8080/calendar/google/callback",
        "http://127.0.0.1:9000/calendar/google/callback",
        "http://10.0.0.5:8080/calendar/google/callback",
        "http://10.0.0.5:8080/calendar/microsoft/callback",
    )
    assert "http://127.0.0.1:9000/calendar/microsoft/callback" in config.microsoft_redirect_uris
    assert "http://10.0.0.5:8080/calendar/google/callback" in config.microsoft_redirect_uris


def test_a_configured_redirect_uri_that_is_no_url_stops_start_up_naming_the_setting() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, sandbox_redirect_uris="http://ok.example/cb, /relative")
    assert "SANDBOX_REDIRECT_URIS" in str(refused.value)
    assert "/relative" not in str(refused.value)
