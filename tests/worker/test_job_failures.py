"""A job that fails is logged by its name and its error's type, never the error's text (which
can hold a client's details or a statement's values); Huey's own line loses the text too."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi import FastAPI

from proirp.kit.logging import configure_logging
from proirp.worker.consumer import start_embedded_consumer
from proirp.worker.jobs import JobContext, enqueue, job

started = threading.Event()


@job("tests.fails_with_phi")
def fails_with_phi(ctx: JobContext, name: str) -> None:
    started.set()
    raise ValueError(f"could not find {name}")


def test_a_failed_job_is_logged_by_name_and_type(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO")
    output = ""
    try:
        enqueue("tests.fails_with_phi", "Zebediah Quinn")
        consumer = start_embedded_consumer(workers=1)
        try:
            assert started.wait(timeout=15), "the consumer did not run the job"
            deadline = time.monotonic() + 10
            while "Unhandled exception in task" not in output and time.monotonic() < deadline:
                time.sleep(0.1)
                output += capsys.readouterr().err
        finally:
            consumer.stop(graceful=True)
        output += capsys.readouterr().err
    finally:
        configure_logging(level="INFO")
    assert "job.failed" in output
    assert "job=tests.fails_with_phi" in output
    assert "error_type=ValueError" in output
    assert "Unhandled exception in task" in output
    assert "Zebediah" not in output
