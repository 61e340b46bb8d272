"""Fixtures: the sandbox served by uvicorn on a free port, a webhook receiver, the official SDKs."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import msal
import pytest
import requests
import uvicorn
from fastapi import FastAPI
from sendgrid import SendGridAPIClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from proirp.sandbox.app import SandboxConfig, create_sandbox_app
from proirp.sandbox.google import GoogleSandbox
from proirp.sandbox.microsoft import MicrosoftSandbox
from proirp.sandbox.sendgrid import SendGridSandbox
from proirp.sandbox.tls import SandboxCertificate, ensure_certificate
from proirp.sandbox.twilio import TwilioSandbox

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "sandbox-test-auth-token"
OUR_NUMBER = "+15005550006"  # Twilio's magic "valid From"
OTHER_NUMBER = "+13125550199"
CLIENT_NUMBER = "+12025550123"
TWILIO_ORIGIN = "https://api.twilio.com"
INBOUND_PATH = "/webhooks/twilio/inbound"
SENDGRID_API_KEY = "SG.test-key.sandbox-tests"
SENDGRID_EVENTS_PATH = "/webhooks/sendgrid/events"
GOOGLE_CLIENT_ID = "sandbox-tests.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "sandbox-tests-google-secret"
GOOGLE_REDIRECT_URI = "http://127.0.0.1:8080/calendar/google/callback"
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
CLINICIAN = "clinician@sandbox.example.com"


class RedirectingHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with https://api.twilio.com rewritten to the sandbox."""

    def __init__(self, base_url: str, *, timeout: float | None = 10.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.requests_made: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_ORIGIN):
            url = self.base_url + url[len(TWILIO_ORIGIN) :]
        self.requests_made.append((method, url))
        response: Response = super().request(method, url, *args, **kwargs)
        return response


@dataclass
class ReceivedRequest:
    path: str
    url: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes = b""


@dataclass
class WebhookReceiver:
    """A tiny HTTP server standing in for the application: records POSTs, answers as scripted."""

    server: ThreadingHTTPServer
    received: list[ReceivedRequest] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, path: str, *answers: tuple[int, str]) -> None:
        """Answer the next requests to `path` with these (status, body) pairs, then 200."""
        with self.condition:
            self.scripts[path] = list(answers)

    def answer_for(self, path: str) -> tuple[int, str]:
        with self.condition:
            queue = self.scripts.get(path)
            if queue:
                return queue.pop(0)
        return 200, "<Response></Response>" if path == INBOUND_PATH else ""

    def record(self, request: ReceivedRequest) -> None:
        with self.condition:
            self.received.append(request)
            self.condition.notify_all()

    def requests(self, path: str) -> list[ReceivedRequest]:
        with self.condition:
            return [request for request in self.received if request.path == path]

    def wait_for(self, path: str, count: int, *, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until `count` requests reached `path`; fail the test otherwise."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                matching = [request for request in self.received if request.path == path]
                remaining = deadline - time.monotonic()
                if len(matching) >= count or remaining <= 0:
                    break
                self.condition.wait(remaining)
        assert len(matching) >= count, f"{len(matching)} of {count} requests reached {path}"
        return matching


def _receiver_handler(receiver_ref: list[WebhookReceiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = receiver_ref[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            receiver.record(
                ReceivedRequest(
                    path=self.path,
                    url=receiver.base_url + self.path,
                    headers={name: value for name, value in self.headers.items()},
                    form=form,
                    body=raw,
                )
            )
            # Graph's handshake: a validationToken in the query is echoed (as the product does),
            # unless the test scripted an answer for the path.
            path, _, query = self.path.partition("?")
            validation = dict(parse_qsl(query)).get("validationToken")
            if validation is not None and not receiver.scripts.get(path):
                status, body = 200, validation
            else:
                status, body = receiver.answer_for(path if validation is not None else self.path)
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output quiet

    return Handler


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    holder: list[WebhookReceiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(holder))
    server.daemon_threads = True
    holder.append(WebhookReceiver(server=server))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@contextmanager
def serve(app: FastAPI, *, certificate: SandboxCertificate | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port in a background thread; yields its root URL
    (https:// when served with the sandbox's `certificate`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    tls: dict[str, Any] = {}
    if certificate is not None:
        tls = {"ssl_certfile": certificate.cert_path, "ssl_keyfile": certificate.key_path}
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        **tls,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.01)
    try:
        yield f"{'https' if certificate else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sandbox_config(receiver: WebhookReceiver, **settings: Any) -> SandboxConfig:
    """The tests' Twilio credentials and the receiver as the application, plus `settings`."""
    return SandboxConfig(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        app_base_url=receiver.base_url,
        **settings,
    )


Running = TypeVar("Running")


@contextmanager
def starter(
    base: SandboxConfig, running: Callable[[SandboxConfig, FastAPI, str], Running]
) -> Iterator[Callable[..., Running]]:
    """A function that serves a sandbox app with SandboxConfig overrides on `base` and describes
    it with `running(config, app, root)`; every sandbox it started stops on exit."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Running:
            config = dataclasses.replace(base, **overrides)
            app = create_sandbox_app(config)
            root = stack.enter_context(serve(app))
            return running(config, app, root)

        yield start


@dataclass
class RunningSandbox:
    config: SandboxConfig
    state: TwilioSandbox
    root: str

    @property
    def api_base(self) -> str:
        return self.root + "/twilio"

    def client(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        timeout: float | None = 10.0,
    ) -> Client:
        """The official SDK, pointed at this sandbox."""
        http_client = RedirectingHttpClient(self.api_base, timeout=timeout)
        return Client(account_sid, auth_token, http_client=http_client)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a /_sandbox control endpoint with the account's credentials."""
        kwargs.setdefault("auth", (ACCOUNT_SID, AUTH_TOKEN))
        return requests.request(method, f"{self.api_base}/_sandbox/{path}", timeout=10, **kwargs)

    def messages_url(self, suffix: str = ".json") -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages{suffix}"


StartSandbox = Callable[..., RunningSandbox]


@pytest.fixture
def start_sandbox(receiver: WebhookReceiver) -> Iterator[StartSandbox]:
    """Start a sandbox with SandboxConfig overrides; stopped after the test."""
    base = sandbox_config(receiver, callback_delay_ms=20)
    with starter(
        base, lambda config, app, root: RunningSandbox(config, app.state.twilio, root)
    ) as start:
        yield start


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> RunningSandbox:
    return start_sandbox()


@pytest.fixture
def client(sandbox: RunningSandbox) -> Client:
    return sandbox.client()


@dataclass
class RunningSendGrid:
    config: SandboxConfig
    state: SendGridSandbox
    root: str

    @property
    def host(self) -> str:
        """What the product passes as the SDK's `host`."""
        return self.root + "/sendgrid"

    def client(self, *, api_key: str = SENDGRID_API_KEY) -> SendGridAPIClient:
        """The official SDK, pointed at this sandbox."""
        return SendGridAPIClient(api_key, host=self.host)

    def post_mail(self, body: Any, *, api_key: str = SENDGRID_API_KEY) -> requests.Response:
        """POST /v3/mail/send without the SDK (to look at raw answers)."""
        return requests.post(
            self.host + "/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a /_sandbox control endpoint with the API key."""
        kwargs.setdefault("headers", {"Authorization": f"Bearer {SENDGRID_API_KEY}"})
        return requests.request(method, f"{self.host}/_sandbox/{path}", timeout=10, **kwargs)


StartSendGrid = Callable[..., RunningSendGrid]


@pytest.fixture
def start_sendgrid(receiver: WebhookReceiver) -> Iterator[StartSendGrid]:
    """Start a sandbox for SendGrid tests with SandboxConfig overrides; stopped after the test."""
    base = sandbox_config(receiver, sendgrid_api_key=SENDGRID_API_KEY, event_delay_ms=20)
    with starter(
        base, lambda config, app, root: RunningSendGrid(config, app.state.sendgrid, root)
    ) as start:
        yield start


@pytest.fixture
def mail_sandbox(start_sendgrid: StartSendGrid) -> RunningSendGrid:
    return start_sendgrid()


@dataclass
class RunningGoogle:
    config: SandboxConfig
    state: GoogleSandbox
    root: str

    @property
    def oauth_base(self) -> str:
        """What the product has as GOOGLE_OAUTH_BASE."""
        return self.root + "/google/oauth"

    @property
    def api_base(self) -> str:
        """What the product has as GOOGLE_API_BASE."""
        return self.root + "/google/api"

    @property
    def calendar_base(self) -> str:
        return self.api_base + "/calendar/v3"

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a /_sandbox control endpoint with the client ID and secret."""
        kwargs.setdefault("auth", (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET))
        return requests.request(method, f"{self.root}/google/_sandbox/{path}", timeout=10, **kwargs)

    def consent(
        self,
        *,
        account: str = CLINICIAN,
        scope: str = CALENDAR_SCOPE,
        challenge: str | None = None,
        access_type: str = "offline",
        prompt: str = "consent",
        decision: str = "allow",
        state: str = "xyz",
    ) -> requests.Response:
        """Open the consent page and press a button, as a user would; the redirect answer."""
        params = {
            "client_id": GOOGLE_CLIENT_ID,
            "redirect_uri": GOOGLE_REDIRECT_URI,
            "response_type": "code",
            "scope": scope,
            "state": state,
            "access_type": access_type,
            "prompt": prompt,
        }
        if challenge is not None:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        url = self.oauth_base + "/o/oauth2/v2/auth"
        page = requests.get(url, params=params, timeout=10)
        assert page.status_code == 200, page.text
        form = {**params, "account": account, "decision": decision}
        return requests.post(url, data=form, allow_redirects=False, timeout=10)

    def token(self, **form: str) -> requests.Response:
        """POST to the token endpoint with the client's credentials in the body."""
        body = {"client_id": GOOGLE_CLIENT_ID, "client_secret": GOOGLE_CLIENT_SECRET, **form}
        return requests.post(self.oauth_base + "/token", data=body, timeout=10)

    def connect(self, *, account: str = CLINICIAN, scope: str = CALENDAR_SCOPE) -> dict[str, Any]:
        """Consent and redeem the code (no PKCE); the token response."""
        location = self.consent(account=account, scope=scope).headers["location"]
        code = dict(parse_qsl(location.split("?", 1)[1]))["code"]
        answer = self.token(
            grant_type="authorization_code", code=code, redirect_uri=GOOGLE_REDIRECT_URI
        )
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        """Call the Calendar API (path under calendar/v3) with a bearer token."""
        timeout = kwargs.pop("timeout", 10)
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        url = f"{self.calendar_base}/{path}"
        return requests.request(method, url, headers=headers, timeout=timeout, **kwargs)


StartGoogle = Callable[..., RunningGoogle]


def google_config() -> SandboxConfig:
    """The tests' Google client (and the Twilio credentials every sandbox needs)."""
    return SandboxConfig(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_redirect_uris=(GOOGLE_REDIRECT_URI,),
    )


@pytest.fixture
def start_google() -> Iterator[StartGoogle]:
    """Start a sandbox for Google tests with SandboxConfig overrides; stopped after the test."""
    with starter(
        google_config(), lambda config, app, root: RunningGoogle(config, app.state.google, root)
    ) as start:
        yield start


@pytest.fixture(scope="module")
def google_server() -> Iterator[RunningGoogle]:
    """One Google sandbox per test module (starting one per test is most of their time)."""
    config = google_config()
    app = create_sandbox_app(config)
    with serve(app) as root:
        yield RunningGoogle(config, app.state.google, root)


@pytest.fixture
def google(google_server: RunningGoogle) -> RunningGoogle:
    """The module's Google sandbox, reset: no accounts, grants or events; start knobs."""
    google_server.state.reset()
    return google_server


# --- Microsoft -------------------------------------------------------------------------------

MICROSOFT_CLIENT_ID = "0b1c2d3e-0000-4000-8000-00000000c0de"
MICROSOFT_CLIENT_SECRET = "sandbox-tests-microsoft-secret"
MICROSOFT_REDIRECT_URI = "http://127.0.0.1:8080/calendar/microsoft/callback"
MICROSOFT_SCOPES = ["Calendars.ReadWrite", "User.Read"]
MAILBOX = "clinician@lakeside.onmicrosoft.com"


def trusting_session(certificate: SandboxCertificate) -> requests.Session:
    """A requests session that trusts the sandbox's CA and nothing from the environment."""
    session = requests.Session()
    session.verify = str(certificate.ca_path)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace `verify`
    return session


@dataclass
class RunningMicrosoft:
    config: SandboxConfig
    state: MicrosoftSandbox
    root: str  # https://127.0.0.1:<port>
    certificate: SandboxCertificate
    session: requests.Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = trusting_session(self.certificate)

    @property
    def authority(self) -> str:
        """What the product gives msal as `authority`."""
        return self.root + "/microsoft/login/common"

    @property
    def graph_base(self) -> str:
        """What the product has as its Graph base."""
        return self.root + "/microsoft/graph/v1.0"

    def msal_app(self, **kwargs: Any) -> msal.ConfidentialClientApplication:
        """msal itself, pointed at this sandbox."""
        return msal.ConfidentialClientApplication(
            MICROSOFT_CLIENT_ID,
            client_credential=MICROSOFT_CLIENT_SECRET,
            authority=self.authority,
            http_client=self.session,
            instance_discovery=False,
            **kwargs,
        )

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a /_sandbox control endpoint with the client ID and secret."""
        kwargs.setdefault("auth", (MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET))
        url = f"{self.root}/microsoft/_sandbox/{path}"
        return self.session.request(method, url, timeout=10, **kwargs)

    def consent(
        self, auth_uri: str, *, decision: str = "allow", account: str = MAILBOX
    ) -> dict[str, str]:
        """Open the consent page msal sent the user to and press a button, as a user would;
        the query of the redirect back to the app."""
        page = self.session.get(auth_uri, timeout=10)
        assert page.status_code == 200, page.text
        action = auth_uri.split("?", 1)[0]
        form = dict(parse_qsl(auth_uri.split("?", 1)[1]))
        form.update(account=account, decision=decision)
        answer = self.session.post(action, data=form, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return dict(parse_qsl(answer.headers["location"].split("?", 1)[1]))

    def connect(
        self, app: msal.ConfidentialClientApplication | None = None, *, account: str = MAILBOX
    ) -> dict[str, Any]:
        """The whole sign-in through msal (PKCE, nonce, state); msal's result."""
        app = app or self.msal_app()
        flow = app.initiate_auth_code_flow(MICROSOFT_SCOPES, redirect_uri=MICROSOFT_REDIRECT_URI)
        result: dict[str, Any] = app.acquire_token_by_auth_code_flow(
            flow, self.consent(flow["auth_uri"], account=account)
        )
        assert "access_token" in result, result
        return result

    def graph(self, method: str, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        """Call Graph (path under /v1.0, or an absolute link) with a bearer token."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("https://") else f"{self.graph_base}/{path.lstrip('/')}"
        timeout = kwargs.pop("timeout", 10)
        return self.session.request(method, url, headers=headers, timeout=timeout, **kwargs)


StartMicrosoft = Callable[..., RunningMicrosoft]


def microsoft_config() -> SandboxConfig:
    """The tests' Microsoft app registration (and the Twilio credentials every sandbox needs)."""
    return SandboxConfig(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        microsoft_client_id=MICROSOFT_CLIENT_ID,
        microsoft_client_secret=MICROSOFT_CLIENT_SECRET,
        microsoft_redirect_uris=(MICROSOFT_REDIRECT_URI,),
    )


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> SandboxCertificate:
    """The sandbox's certificate, made once for the test session."""
    return ensure_certificate(tmp_path_factory.mktemp("sandbox-tls"))


@pytest.fixture
def start_microsoft(tls_certificate: SandboxCertificate) -> Iterator[StartMicrosoft]:
    """Start a TLS sandbox for Microsoft tests with SandboxConfig overrides; stopped after."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningMicrosoft:
            config = dataclasses.replace(microsoft_config(), **overrides)
            app = create_sandbox_app(config)
            root = stack.enter_context(serve(app, certificate=tls_certificate))
            running = RunningMicrosoft(config, app.state.microsoft, root, tls_certificate)
            # Closed before the server stops, which otherwise waits for its idle connections.
            stack.callback(running.session.close)
            return running

        yield start


@pytest.fixture(scope="module")
def microsoft_server(tls_certificate: SandboxCertificate) -> Iterator[RunningMicrosoft]:
    """One TLS sandbox per test module (starting one per test is most of their time)."""
    config = microsoft_config()
    app = create_sandbox_app(config)
    with serve(app, certificate=tls_certificate) as root:
        running = RunningMicrosoft(config, app.state.microsoft, root, tls_certificate)
        yield running
        running.session.close()


@pytest.fixture
def microsoft(microsoft_server: RunningMicrosoft) -> RunningMicrosoft:
    """The module's Microsoft sandbox, reset: no accounts, grants or events; start knobs."""
    microsoft_server.state.reset()
    return microsoft_server
