"""structlog set-up: JSON lines in production, readable lines in development."""

from __future__ import annotations

import logging
import sys

import structlog

# Provider SDKs log each request: Twilio's its query (phone numbers) and headers, SendGrid's its
# payload (addresses, bodies) and headers (the API key), msal its token events. Only their
# warnings may reach our logs. urllib3 (under requests) writes the request line at DEBUG and each
# retry at WARNING, query string included: only its errors.
QUIET_LOGGERS = {
    "twilio.http_client": logging.WARNING,
    "python_http_client": logging.WARNING,
    "msal": logging.WARNING,
    "urllib3": logging.ERROR,
    # Stripe's logs its errors' messages (part of the key); httpx (under openai) each URL.
    "stripe": logging.WARNING,
    "httpx": logging.WARNING,
    "openai": logging.WARNING,
}


class WithoutQueryStrings(logging.Filter):
    """Uvicorn's access log without query strings: they carry client searches (names) and
    OAuth codes. The path, method and status stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access logs (client address, method, path with query, HTTP version, status).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def quiet_access_log() -> None:
    """Install WithoutQueryStrings on uvicorn's access log (after uvicorn configured it)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQueryStrings) for f in access.filters):
        access.addFilter(WithoutQueryStrings())


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger().setLevel(level)  # basicConfig changes nothing once a handler exists
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
