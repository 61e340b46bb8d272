"""Whose address a request has: the socket's, unless it comes from a proxy in FORWARDED_ALLOW_IPS.

Checked over `proirp serve` itself, since uvicorn (not the app) decides what X-Forwarded-For does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proirp.config import SettingsError, load_settings
from tests.auth.served import served

WRONG_PASSWORD = "not the password at all"
EMAIL = "frontdesk@clinic.example.com"
# One failure per account and address, four per address: quick to reach.
STRICT = {"LOGIN_MAX_FAILURES": "1", "LOGIN_MAX_FAILURES_PER_ADDRESS": "4"}


def test_a_forwarded_address_from_a_peer_not_trusted_is_ignored(tmp_path: Path) -> None:
    """By default no one is trusted, this machine included: an X-Forwarded-For made up anew for
    each try neither escapes the per-address limit nor reaches the audit trail."""
    with served(tmp_path, settings=STRICT) as app:
        for guess in range(4):
            forged = f"203.0.113.{guess + 1}"
            refused = app.log_in(
                f"guess{guess}@clinic.example.com", WRONG_PASSWORD, forwarded=forged
            )
            assert refused.status_code == 401

        throttled = app.log_in(
            "guess9@clinic.example.com", WRONG_PASSWORD, forwarded="198.51.100.9"
        )
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        assert app.audit_ips("LOGIN_FAILED") == ["127.0.0.1"] * 4
        assert app.audit_ips("LOGIN_THROTTLED") == ["127.0.0.1"]


def test_a_trusted_proxys_forwarded_address_is_the_clients(tmp_path: Path) -> None:
    with served(tmp_path, settings={**STRICT, "FORWARDED_ALLOW_IPS": "127.0.0.1"}) as app:
        app.add_user(EMAIL)
        for guess in range(4):
            refused = app.log_in(
                f"guess{guess}@clinic.example.com", WRONG_PASSWORD, forwarded="203.0.113.7"
            )
            assert refused.status_code == 401

        # The noisy client behind the proxy is held back; another client behind it is not.
        assert app.log_in(EMAIL, forwarded="203.0.113.7").status_code == 429
        assert app.log_in(EMAIL, forwarded="198.51.100.9").status_code == 200
        assert app.audit_ips("LOGIN_FAILED") == ["203.0.113.7"] * 4
        assert app.audit_ips("LOGIN_THROTTLED") == ["203.0.113.7"]
        assert app.audit_ips("LOGIN_SUCCEEDED") == ["198.51.100.9"]


@pytest.mark.parametrize("value", ["10.0.0.1", "10.0.0.1, 192.168.0.0/16", "::1", "*", ""])
def test_forwarded_allow_ips_takes_addresses_and_networks(value: str) -> None:
    load_settings(_env_file=None, forwarded_allow_ips=value)


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.1/40", "10.0.0.1;10.0.0.2"])
def test_forwarded_allow_ips_refuses_what_is_not_an_address(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, forwarded_allow_ips=value)
    assert "FORWARDED_ALLOW_IPS" in str(caught.value)
