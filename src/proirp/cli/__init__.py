"""The `proirp` command: serve | worker | sandbox | db | users | audit | keys |
check-integrations. `users` also lists, disables, enables, changes roles and resets passwords
(cli/staff.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from proirp.cli.audit import audit_app
from proirp.cli.common import fail as _fail
from proirp.cli.common import settings as _settings
from proirp.cli.staff import add_staff_commands
from proirp.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from proirp.runtime import Runtime
    from proirp.sandbox.server import Listener

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Pro IRP integrations.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
users_app = typer.Typer(no_args_is_help=True, help="Staff accounts.")
keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys.")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: PORT or 8080).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    embedded_worker: Annotated[
        bool | None,
        typer.Option(help="Run a worker in this process (default: on with the SQLite queue)."),
    ] = None,
) -> None:
    """Serve the API (and, with the embedded queue, run the worker in the same process)."""
    import uvicorn

    from proirp.app import create_app
    from proirp.concurrency import MAX_OPEN_CONNECTIONS
    from proirp.sandbox.server import Listener, PortUnavailable, serve_all

    settings = _settings(**({"port": port} if port else {}))
    embedded = settings.queue_backend == "sqlite" if embedded_worker is None else embedded_worker
    api = create_app(settings, embedded_worker=embedded)
    config = uvicorn.Config(
        api,
        host=host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Uvicorn's lines go through the product's log handler (kit.logging), and the access
        # log is the product's own (kit.request_log).
        log_config=None,
        access_log=False,
        # Requests at once are limited inside the app (kit/admission.py: fewer than threads, see
        # proirp.concurrency, answered in JSON); this only bounds open connections.
        limit_concurrency=MAX_OPEN_CONNECTIONS,
        # X-Forwarded-For only from FORWARDED_ALLOW_IPS (uvicorn's own default trusts this machine).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    listeners = [Listener(config, "PORT (or --port)")]
    sandbox_app = getattr(api.state, "sandbox_app", None)
    if sandbox_app is not None and not settings.microsoft_configured:
        listeners.append(_sandbox_tls_listener(sandbox_app, settings))
    typer.echo(f"Pro IRP: the staff UI is at {settings.base_url}/ (the API reference at /docs)")
    try:
        serve_all(listeners)
    except PortUnavailable as exc:
        _fail(str(exc))


def _sandbox_tls_listener(sandbox_app: FastAPI, settings: Settings) -> Listener:
    """Microsoft's sign-in library only speaks https: the mounted sandbox's Microsoft part is
    also served over TLS, on this machine only, with a certificate made for it."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from proirp.sandbox.server import Listener, tls_server_config
    from proirp.sandbox.tls import ensure_certificate

    certificate = ensure_certificate(settings.sandbox_tls_directory)
    tls_app = Starlette(routes=[Mount("/sandbox", app=sandbox_app)])
    tls = tls_server_config(
        tls_app,
        host="127.0.0.1",
        port=settings.serve_sandbox_tls_port,
        certificate=certificate,
        log_config=None,
    )
    return Listener(tls, "SERVE_SANDBOX_TLS_PORT")


@app.command()
def worker(
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker threads (default: WORKER_THREADS).")
    ] = None,
) -> None:
    """Run a queue consumer and the audit chainer (for deployments with separate worker
    processes)."""
    from proirp import runtime
    from proirp.audit.chainer import Chainer
    from proirp.metrics import MetricsPortUnavailable, serve_worker_metrics
    from proirp.worker.consumer import run_consumer
    from proirp.worker.jobs import run_job

    settings = _settings()
    try:
        serve_worker_metrics(settings)  # before any work, so that a port in use stops it at once
    except MetricsPortUnavailable as exc:
        _fail(str(exc))
    rt = runtime.start(settings)
    run_job("comms.sweep")  # pick up what a crashed worker left behind before taking new work
    chainer = Chainer(rt.engine, rt.session_factory).start()
    try:
        run_consumer(workers or settings.worker_threads)
    finally:
        chainer.stop()
        runtime.stop(rt)


sandbox_app = typer.Typer()
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.callback(invoke_without_command=True)
def sandbox(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port (default: SANDBOX_PORT or 8099).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    tls_port: Annotated[
        int | None,
        typer.Option(help="Also serve over TLS here, for Microsoft (default: SANDBOX_TLS_PORT)."),
    ] = None,
) -> None:
    """Run the provider sandbox (Twilio, SendGrid, Google, Microsoft), accepting the credentials
    in settings; Microsoft's part is also served over TLS, as msal requires. `proirp sandbox
    env` prints the .env lines that point the product at it."""
    if ctx.invoked_subcommand is not None:
        return
    from proirp.sandbox.from_settings import sandbox_config
    from proirp.sandbox.server import PortUnavailable, run

    settings = _settings()
    try:
        run(
            sandbox_config(settings),
            host=host,
            port=port or settings.sandbox_port,
            tls_port=tls_port or settings.sandbox_tls_port,
            tls_directory=settings.sandbox_tls_directory,
        )
    except PortUnavailable as exc:
        _fail(str(exc))


@sandbox_app.command("env")
def sandbox_env(
    url: Annotated[
        str | None,
        typer.Option(help="The running sandbox (default: http://127.0.0.1:SANDBOX_PORT)."),
    ] = None,
) -> None:
    """Print the .env lines that point every provider at a running `proirp sandbox` (its own
    published credentials, never this installation's secrets)."""
    from proirp.sandbox.env_lines import SandboxNotFound, env_lines, read_index

    url = url or f"http://127.0.0.1:{_settings().sandbox_port}"
    try:
        index = read_index(url)
    except SandboxNotFound as exc:
        _fail(str(exc))
    typer.echo("\n".join(env_lines(url, index)))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from proirp import runtime
    from proirp.audit.keys import build_chain_keyring
    from proirp.migrations.commands import upgrade

    settings = _settings()
    # An audit log from before the keyed chain is re-signed with the current chain key, and
    # clients from before their names were encrypted are encrypted with the vault's.
    upgrade(
        settings.sqlalchemy_url,
        revision,
        audit_chain_keyring=build_chain_keyring(settings),
        vault=runtime.build_vault(settings),
    )
    typer.echo(f"database at {revision}")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from proirp.migrations.commands import check

    check(_settings().sqlalchemy_url)
    typer.echo("models and migrations agree")


def _ask_password() -> str | None:
    if not sys.stdin.isatty():
        return None
    password: str = typer.prompt(
        "Password (empty to generate one)", hide_input=True, default="", show_default=False
    )
    if password and typer.prompt("Repeat it", hide_input=True) != password:
        _fail("the passwords differ")
    return password or None


def _create_user(email: str, role: str, password: str | None, rt: Runtime | None = None) -> None:
    from proirp import runtime
    from proirp.auth.secrets import generate_password
    from proirp.auth.service import create_user
    from proirp.kit.db import transaction
    from proirp.kit.errors import AppError

    rt = rt or runtime.start(_settings())
    generated = password is None
    password = password or generate_password()
    try:
        with transaction(rt.session_factory) as session:
            user = create_user(session, email=email, role=role, password=password, actor=None)
    except AppError as exc:
        _fail(exc.message)
    typer.echo(f"created {user.role} {user.email}")
    if generated:
        typer.echo(f"password (shown once, store it now): {password}")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's sign-in email.")],
    role: Annotated[str, typer.Option(help="admin, clinician or staff.")],
    password: Annotated[
        str | None, typer.Option(help="Omit to be asked, or to have one generated.")
    ] = None,
) -> None:
    """Create a staff user."""
    _create_user(email, role, password if password is not None else _ask_password())


@users_app.command("ensure-admin")
def users_ensure_admin(
    email: Annotated[str, typer.Option(help="Email for the first admin.")] = "admin@example.com",
) -> None:
    """Create the first admin, with a generated password printed once, if there is no admin yet."""
    from proirp import runtime
    from proirp.auth.repository import count_admins
    from proirp.kit.db import transaction

    rt = runtime.start(_settings())
    with transaction(rt.session_factory) as session:
        if count_admins(session):
            typer.echo("an admin exists; sign in with that account")
            return
    _create_user(email, "admin", None, rt)


add_staff_commands(users_app)


@users_app.command("reset-mfa")
def users_reset_mfa(
    email: Annotated[str, typer.Argument(help="The user's sign-in email.")],
) -> None:
    """Reset a user's two-step sign-in (a lost phone): their app and recovery codes stop working,
    their sessions end, and they set it up again at their next sign-in. Audited as MFA_RESET."""
    from proirp import runtime
    from proirp.audit.service import RequestOrigin
    from proirp.auth import second_factor
    from proirp.auth.repository import user_by_email
    from proirp.kit.db import transaction

    rt = runtime.start(_settings())
    with transaction(rt.session_factory) as session:
        user = user_by_email(session, email.strip().lower())
        if user is None:
            _fail("no user with that email")
            return
        had = second_factor.reset(session, user, actor=None, origin=RequestOrigin())
    done = "two-step sign-in reset" if had else "no second factor to reset"
    typer.echo(f"{user.email}: {done}; their sessions are ended")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new key to put first in PROIRP_ENCRYPTION_KEYS."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret under the first key in PROIRP_ENCRYPTION_KEYS."""
    from proirp import runtime
    from proirp.key_rotation import rotate_encrypted_columns
    from proirp.kit.db import transaction

    rt = runtime.start(_settings())
    with transaction(rt.session_factory) as session:
        counts = rotate_encrypted_columns(session)
    for column, count in counts.items():
        typer.echo(f"{column}: {count} values re-encrypted")


def check_integrations(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check settings and credentials; send no test SMS or email."
        ),
    ] = False,
) -> None:
    """Say, for each provider, whether it is configured and whether it works; exits 1 if
    anything configured fails. Sends a test SMS to TEST_PHONE_NUMBER and a test email to
    TEST_EMAIL unless --dry-run. Never prints a secret."""
    from proirp import runtime
    from proirp.checks.report import Renderer, exit_status
    from proirp.checks.runner import record_check, run_checks, secret_values

    settings = _settings()
    rt = runtime.start(settings)
    renderer = Renderer(secret_values(settings))
    env_file = Path.cwd() / ".env"
    typer.echo(
        renderer.heading(
            f"{env_file} and the environment"
            if env_file.is_file()
            else f"the environment only (no .env in {Path.cwd()})"
        )
    )
    reports = run_checks(
        settings,
        rt.session_factory,
        dry_run=dry_run,
        on_report=lambda report: typer.echo(renderer.section(report)),
    )
    typer.echo(renderer.summary(reports))
    if not record_check(rt.session_factory, reports, dry_run=dry_run):
        typer.echo(
            "(not recorded in the audit log: the database is not ready; run `proirp db upgrade`)",
            err=True,
        )
    raise typer.Exit(exit_status(reports))


app.command("check-integrations")(check_integrations)
# The name the Node version's script had (`node backend/test-integrations.js`).
app.command("test-integrations", help="The same as check-integrations.")(check_integrations)


def main() -> None:
    from proirp.kit.files import restrict_umask

    restrict_umask()  # whatever a library writes (SQLite, Huey, uvicorn) is private too
    app()
