"""The provider SDKs log requests (numbers in query strings, email payloads, API key headers);
none of that may reach our logs, at any LOG_LEVEL."""

from __future__ import annotations

import logging

import pytest

from proirp.kit.logging import configure_logging


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
@pytest.mark.parametrize("name", ["twilio.http_client", "python_http_client.client"])
def test_sdk_request_logs_are_kept_out_even_at_debug(level: str, name: str) -> None:
    configure_logging(level=level)
    try:
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO)
        assert logger.isEnabledFor(logging.WARNING)
    finally:
        configure_logging(level="INFO")


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_request_urls_and_retries_are_kept_out(level: str) -> None:
    """urllib3 (under requests, so under Twilio's SDK and msal) logs each request line at DEBUG
    and each retry at WARNING, query string included: phone numbers in Twilio's list filters."""
    configure_logging(level=level)
    try:
        assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.WARNING)
        assert logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.ERROR)
        assert not logging.getLogger("msal.token_cache").isEnabledFor(logging.INFO)
    finally:
        configure_logging(level="INFO")
