"""The Google sandbox inside the whole sandbox: settings, the index, start-up configuration."""

from __future__ import annotations

import pytest
import requests

from proirp.config import Settings
from proirp.config.sandbox_credentials import SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET
from proirp.sandbox.from_settings import sandbox_config
from tests.sandbox.conftest import StartGoogle


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_sandbox_client_without_google_settings(clean_env: None) -> None:
    config = sandbox_config(Settings(_env_file=None))
    assert config.google_client_id == SANDBOX_GOOGLE_CLIENT_ID
    assert config.google_client_secret == SANDBOX_GOOGLE_CLIENT_SECRET
    assert config.google_access_token_seconds == 3600


def test_configured_google_client_is_the_one_accepted(clean_env: None) -> None:
    settings = Settings(
        _env_file=None,
        google_client_id="ours.apps.googleusercontent.com",
        google_client_secret="our-secret",
    )
    config = sandbox_config(settings)
    assert config.google_client_id == "ours.apps.googleusercontent.com"
    assert config.google_client_secret == "our-secret"


def test_index_lists_google_and_lifetime_comes_from_config(start_google: StartGoogle) -> None:
    google = start_google(google_access_token_seconds=120)
    index = requests.get(google.root + "/", timeout=10).json()
    assert index["vendors"]["google"] == {"oauth": "/google/oauth", "api": "/google/api"}
    assert google.connect()["expires_in"] == 120
    assert google.control("GET", "config").json()["access_token_seconds"] == 120
