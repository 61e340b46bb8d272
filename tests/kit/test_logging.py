"""The provider SDKs log requests (numbers in query strings, email payloads, API key headers);
none of that may reach our logs, at any LOG_LEVEL."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
import structlog
import uvicorn
from fastapi import FastAPI

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


def _raise_with_phi() -> None:
    try:
        raise LookupError("no record for Zebediah Quinn")
    except LookupError as exc:
        raise ValueError("Zebediah Quinn, born 1984-02-03") from exc


def test_a_logged_exception_keeps_its_frames_and_types_never_its_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """uvicorn, Huey and every other library log an exception with its text, which can hold
    what a client typed or a statement's values: only the frames and the types are written."""
    configure_logging(level="INFO")
    try:
        try:
            _raise_with_phi()
        except ValueError as exc:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
            logging.getLogger("huey").warning("Task %s not run, %s.", "t-1", exc)
        err = capsys.readouterr().err
    finally:
        configure_logging(level="INFO")
    assert "Exception in ASGI application" in err
    assert "Task t-1 not run, ValueError." in err
    assert "Traceback (most recent call last)" in err
    assert "in _raise_with_phi" in err
    assert "LookupError" in err and "ValueError" in err
    assert "Zebediah" not in err and "1984" not in err


@pytest.mark.parametrize("json", [False, True])
def test_an_event_logged_with_its_exception_keeps_the_type_not_the_text(
    capsys: pytest.CaptureFixture[str], json: bool
) -> None:
    configure_logging(level="INFO", json=json)
    try:
        try:
            _raise_with_phi()
        except ValueError:
            structlog.get_logger("tests").error("job.failed", exc_info=True)
        err = capsys.readouterr().err
    finally:
        configure_logging(level="INFO")
    assert "job.failed" in err
    assert "ValueError" in err and "in _raise_with_phi" in err
    assert "Zebediah" not in err and "1984" not in err


def test_a_database_error_keeps_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    """Without its text, a database error still says which it was (SQLITE_BUSY: locked)."""
    configure_logging(level="INFO")
    try:
        try:
            sqlite3.connect(":memory:").execute("SELECT * FROM clients_of_zebediah")
        except sqlite3.Error:
            logging.getLogger("huey").exception("Unhandled exception in task %s.", "t-2")
        err = capsys.readouterr().err
    finally:
        configure_logging(level="INFO")
    assert "sqlite3.OperationalError [SQLITE_ERROR]" in err
    assert "zebediah" not in err


def test_uvicorn_s_own_logging_config_made_earlier_in_the_process_is_undone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A uvicorn.Config made with uvicorn's default logging (the sandbox's listeners) gives
    `uvicorn.error` a handler of its own that writes an exception's text: configure_logging()
    sends uvicorn's lines through the product's handler again."""
    uvicorn.Config(FastAPI())  # installs uvicorn's LOGGING_CONFIG
    configure_logging(level="INFO")
    try:
        try:
            _raise_with_phi()
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        err = capsys.readouterr().err
    finally:
        configure_logging(level="INFO")
    assert "Exception in ASGI application" in err and "ValueError" in err
    assert "Zebediah" not in err and "1984" not in err


def test_json_lines_hold_the_libraries_lines_too_with_what_the_context_binds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In production a log collector reads one JSON object per line: Huey's and uvicorn's lines
    as well as the product's, each with the request id bound while it was written, and an
    exception by its frames and types only."""
    configure_logging(level="INFO", json=True)
    try:
        with structlog.contextvars.bound_contextvars(request_id="r-123", job="comms.deliver_sms"):
            logging.getLogger("huey").info("Task %s executed in %0.3fs", "t-3", 0.25)
            structlog.get_logger("proirp.tests").info("comms.sent", channel="sms")
            try:
                _raise_with_phi()
            except ValueError:
                logging.getLogger("huey").exception("Unhandled exception in task %s.", "t-4")
        logging.getLogger("uvicorn.error").info("Started server process")
        lines = capsys.readouterr().err.splitlines()
    finally:
        configure_logging(level="INFO")
    records = [json.loads(line) for line in lines]
    huey_line, own_line, failed_line, uvicorn_line = records
    assert huey_line["event"] == "Task t-3 executed in 0.250s"
    assert huey_line["logger"] == "huey" and huey_line["level"] == "info"
    assert huey_line["request_id"] == "r-123" and huey_line["job"] == "comms.deliver_sms"
    assert "timestamp" in huey_line
    assert own_line["event"] == "comms.sent" and own_line["request_id"] == "r-123"
    assert failed_line["level"] == "error" and "in _raise_with_phi" in failed_line["exception"]
    assert "ValueError" in failed_line["exception"]
    assert "request_id" not in uvicorn_line
    assert "Zebediah" not in "\n".join(lines) and "1984" not in "\n".join(lines)


def test_readable_lines_of_the_libraries_end_with_what_the_context_binds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="INFO")
    try:
        with structlog.contextvars.bound_contextvars(request_id="r-456"):
            logging.getLogger("huey").info("Task %s executed", "t-5")
        logging.getLogger("huey").info("Task %s executed", "t-6")
        err = capsys.readouterr().err
    finally:
        configure_logging(level="INFO")
    assert "INFO huey Task t-5 executed request_id=r-456\n" in err
    assert "INFO huey Task t-6 executed\n" in err
