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
