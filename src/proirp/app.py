"""create_app(): the routers, error handlers and start-up of the Pro IRP web service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from proirp import runtime
from proirp.appointments.endpoints import router as appointments_router
from proirp.auth.audit_endpoints import router as audit_router
from proirp.auth.endpoints import router as auth_router
from proirp.auth.mfa_endpoints import router as mfa_router
from proirp.auth.staff_endpoints import router as staff_router
from proirp.auth.throttle import LoginThrottle
from proirp.calendars.endpoints import router as calendars_router
from proirp.calendars.event_endpoints import router as calendar_events_router
from proirp.calendars.providers import close_providers
from proirp.calendars.push_webhooks import router as calendar_push_router
from proirp.clients.access_endpoints import break_glass_router
from proirp.clients.access_endpoints import router as care_team_router
from proirp.clients.endpoints import router as clients_router
from proirp.comms.email.unsubscribe_endpoints import router as unsubscribe_router
from proirp.comms.email.webhooks import router as sendgrid_webhooks_router
from proirp.comms.endpoints import campaigns_router
from proirp.comms.endpoints import router as comms_router
from proirp.comms.inbox.endpoints import router as inbox_router
from proirp.comms.inbox.webhooks import router as inbound_webhook_router
from proirp.comms.sms.webhooks import router as twilio_webhooks_router
from proirp.comms.templates.endpoints import router as templates_router
from proirp.concurrency import (
    MAX_CONCURRENT_REQUESTS,
    MAX_CONCURRENT_WEBHOOKS,
    size_thread_pool,
)
from proirp.config import Settings, load_settings
from proirp.health import router as health_router
from proirp.kit.admission import AdmissionLimit
from proirp.kit.body_limit import BodySizeLimit
from proirp.kit.docs_policy import docs_policies
from proirp.kit.error_handlers import install_error_handlers
from proirp.kit.input import refuse_nul_in_url
from proirp.kit.openapi import describe_api
from proirp.kit.query import refuse_repeated_query
from proirp.kit.request_log import RequestLog
from proirp.kit.security_headers import SecurityHeaders
from proirp.metrics import router as metrics_router
from proirp.web.mount import mount_web, web_policies

log = structlog.get_logger(__name__)

TITLE = "Pro IRP integrations"
VERSION = "0.1.0"

# (router, the package that owns it) in mount order.
ROUTERS: list[tuple[APIRouter, str]] = [
    (health_router, "proirp.health"),
    (metrics_router, "proirp.metrics"),
    (auth_router, "proirp.auth"),
    (mfa_router, "proirp.auth.mfa_endpoints"),
    (clients_router, "proirp.clients"),
    (audit_router, "proirp.auth.audit_endpoints"),
    (comms_router, "proirp.comms"),
    (campaigns_router, "proirp.comms"),
    (templates_router, "proirp.comms.templates"),
    (twilio_webhooks_router, "proirp.comms.sms.webhooks"),
    (inbound_webhook_router, "proirp.comms.inbox.webhooks"),
    (inbox_router, "proirp.comms.inbox"),
    (sendgrid_webhooks_router, "proirp.comms.email.webhooks"),
    (unsubscribe_router, "proirp.comms.email.unsubscribe_endpoints"),
    (calendars_router, "proirp.calendars"),
    (calendar_events_router, "proirp.calendars"),
    (calendar_push_router, "proirp.calendars.push_webhooks"),
    (appointments_router, "proirp.appointments"),
    (staff_router, "proirp.auth.staff_endpoints"),
    (care_team_router, "proirp.clients.access_endpoints"),
    (break_glass_router, "proirp.clients.access_endpoints"),
]
# Messages and templates carry an email's content, up to 1,000,000 characters of HTML and
# 100,000 of text (comms/schemas.py): more than the general limit allows.
CONTENT_MAX_BODY_BYTES = 4 * 1024 * 1024
# The mounted sandbox takes what SendGrid's mail/send takes: "less than 30MB" (its Limitations).
SANDBOX_MAX_BODY_BYTES = 30 * 1024 * 1024
# The sandbox imitates the providers' own pages (a consent form; a page that posts the answer
# back with a script): they keep those, and are only kept out of frames.
SANDBOX_POLICY = "frame-ancestors 'none'"


def create_app(settings: Settings | None = None, *, embedded_worker: bool = False) -> FastAPI:
    """The ASGI app. With `embedded_worker`, a Huey consumer and the audit chainer run inside the
    same process."""
    settings = settings or load_settings()
    rt = runtime.start(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        size_thread_pool()
        consumer = chainer = None
        if embedded_worker:
            from proirp.audit.chainer import Chainer
            from proirp.worker.consumer import start_embedded_consumer

            consumer = start_embedded_consumer(settings.worker_threads)
            chainer = Chainer(rt.engine, rt.session_factory).start()
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)
            if chainer is not None:
                chainer.stop()
            close_providers()  # before the sandbox: its TLS listener waits for them to hang up
            sandbox = getattr(_app.state, "sandbox", None)
            if sandbox is not None:
                sandbox.close()
            runtime.stop(rt)

    app = FastAPI(title=TITLE, version=VERSION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = rt.engine
    app.state.session_factory = rt.session_factory
    app.state.login_throttle = LoginThrottle(settings)
    _serve_api(app)
    mount_web(app)
    _add_middleware(app, settings)
    for router, owner in ROUTERS:
        log.info(f"[router] mounted {router.prefix or '/'} -> {owner}")
    if settings.sandbox_mode:
        _mount_sandbox(app, settings)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """The stack, outermost first: the admission limit (503 `overloaded` past
    MAX_CONCURRENT_REQUESTS at once, providers' webhooks counted apart); security headers (on
    every answer, a 413 or a 500 too); the request id, access log and last word on unhandled
    errors; the body limits. (Starlette puts the last one added outermost.)"""
    sandbox = "/sandbox/"
    content = max(settings.max_request_body_bytes, CONTENT_MAX_BODY_BYTES)
    limits = {
        f"{sendgrid_webhooks_router.prefix}/events": settings.sendgrid_events_max_body_bytes,
        **{
            path: content
            for router in (comms_router, templates_router)
            for path in (router.prefix, f"{router.prefix}/")
        },
    }
    policies = {**docs_policies(app), **web_policies()}
    if settings.sandbox_mode:
        limits[sandbox] = SANDBOX_MAX_BODY_BYTES
        policies[sandbox] = SANDBOX_POLICY
    app.add_middleware(BodySizeLimit, default=settings.max_request_body_bytes, limits=limits)
    app.add_middleware(RequestLog)
    hsts = settings.proirp_env == "production"
    app.add_middleware(SecurityHeaders, hsts=hsts, policies=policies)
    if settings.cors_origins:
        # A practice's own front end elsewhere: exact origins, with the session cookie; a change
        # still needs X-CSRF-Token (auth/dependencies.py), which only such a page can read.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "Idempotency-Key"],
            max_age=600,
        )
    # Outermost: a request over the limit costs nothing but its answer.
    app.add_middleware(
        AdmissionLimit, limit=MAX_CONCURRENT_REQUESTS, webhook_limit=MAX_CONCURRENT_WEBHOOKS
    )


def _serve_api(app: FastAPI) -> None:
    """The routes, their error answers and their OpenAPI description: the API without a runtime."""
    install_error_handlers(app)
    for router, _owner in ROUTERS:
        app.include_router(
            router, dependencies=[Depends(refuse_nul_in_url), Depends(refuse_repeated_query)]
        )
    describe_api(app)


def openapi_document() -> dict[str, Any]:
    """The document `create_app()` serves at /openapi.json, made without starting anything."""
    app = FastAPI(title=TITLE, version=VERSION)
    _serve_api(app)
    return app.openapi()


def _mount_sandbox(app: FastAPI, settings: Settings) -> None:
    """No real provider credentials: serve the provider sandbox here and send to it."""
    from proirp.sandbox.app import create_sandbox_app
    from proirp.sandbox.from_settings import sandbox_config

    # A mounted app, not a router: the sandbox answers in the vendors' own error shapes.
    # The product reaches the mounted sandbox's Twilio API at one address, whichever address a
    # person used to drive the sandbox (localhost or 127.0.0.1): a simulated MMS's MediaUrls
    # point there.
    twilio_root = None if settings.twilio_configured else settings.twilio_connection().api_base
    config = replace(sandbox_config(settings), twilio_api_root=twilio_root)
    sandbox_app = create_sandbox_app(config)
    app.mount("/sandbox", sandbox_app)
    app.state.sandbox = sandbox_app.state.sandbox  # closed by the lifespan above
    app.state.sandbox_app = sandbox_app  # `proirp serve` also serves it over TLS
    log.info("[router] mounted /sandbox -> proirp.sandbox (sandbox mode: no real providers)")
