"""The read-only calls that check a vendor's credentials, through the official SDKs over HTTP:
Twilio's FetchAccount, SendGrid's key scopes, OpenAI's models list and Stripe's balance."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import openai
import pytest
import requests
import stripe
from python_http_client.exceptions import ForbiddenError, UnauthorizedError
from sendgrid import SendGridAPIClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from proirp.config import Settings
from proirp.config.sandbox_credentials import SANDBOX_OPENAI_API_KEY, SANDBOX_STRIPE_SECRET_KEY
from proirp.sandbox.app import Sandbox, SandboxConfig, create_sandbox_app
from proirp.sandbox.from_settings import sandbox_config
from proirp.sandbox.keys import MIN_HIDDEN, mask_key
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDGRID_API_KEY,
    RedirectingHttpClient,
    serve,
)

OPENAI_KEY = "sk-proj-sandbox-tests-openai-key-0123"
STRIPE_KEY = "sk_test_sandbox_tests_stripe_key_4242"
OTHER_ACCOUNT = "AC" + "f" * 32
ACCOUNT_FIELDS = {
    "auth_token", "date_created", "date_updated", "friendly_name", "owner_account_sid", "sid",
    "status", "subresource_uris", "type", "uri",
}  # fmt: skip


@dataclass
class Running:
    """One sandbox with the tests' credentials for every vendor, and the SDKs pointed at it."""

    config: SandboxConfig
    sandbox: Sandbox
    root: str

    def twilio(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> Client:
        http_client = RedirectingHttpClient(self.root + "/twilio")
        return Client(account_sid, auth_token, http_client=http_client)

    def sendgrid(self, api_key: str = SENDGRID_API_KEY) -> SendGridAPIClient:
        return SendGridAPIClient(api_key, host=self.root + "/sendgrid")

    def openai(self, api_key: str = OPENAI_KEY) -> openai.OpenAI:
        return openai.OpenAI(api_key=api_key, base_url=f"{self.root}/openai/v1", max_retries=0)

    def stripe(self, key: str = STRIPE_KEY) -> stripe.StripeClient:
        return stripe.StripeClient(
            key, base_addresses={"api": f"{self.root}/stripe"}, max_network_retries=0
        )

    def control(self, vendor: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a vendor's /_sandbox control route with the credentials its API takes."""
        if vendor == "twilio":
            kwargs.setdefault("auth", (ACCOUNT_SID, AUTH_TOKEN))
        else:
            key = {"sendgrid": SENDGRID_API_KEY, "openai": OPENAI_KEY, "stripe": STRIPE_KEY}
            kwargs.setdefault("headers", {"Authorization": f"Bearer {key[vendor]}"})
        url = f"{self.root}/{vendor}/_sandbox/{path}"
        return requests.request(method, url, timeout=10, **kwargs)


def keyed_config(**overrides: Any) -> SandboxConfig:
    config = SandboxConfig(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        sendgrid_api_key=SENDGRID_API_KEY,
        openai_api_key=OPENAI_KEY,
        stripe_secret_key=STRIPE_KEY,
    )
    return dataclasses.replace(config, **overrides)


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    """One sandbox per module (no app: nothing here sends anything)."""
    config = keyed_config()
    app = create_sandbox_app(config)
    with serve(app) as root:
        yield Running(config, app.state.sandbox, root)


@pytest.fixture
def running(server: Running) -> Running:
    """The module's sandbox, reset: start knobs, no counters."""
    server.sandbox.reset()
    return server


# --- Twilio: FetchAccount --------------------------------------------------------------------


def test_fetch_account_answers_with_twilios_account(running: Running) -> None:
    account = running.twilio().api.v2010.accounts(ACCOUNT_SID).fetch()

    assert (account.sid, account.owner_account_sid) == (ACCOUNT_SID, ACCOUNT_SID)
    assert (account.status, account.type) == ("active", "Full")
    assert account.auth_token == AUTH_TOKEN  # as Twilio's: the caller must never print it
    assert account.friendly_name
    assert account.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}.json"
    assert account.subresource_uris is not None
    messages_uri = account.subresource_uris["messages"]
    assert messages_uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert account.date_created is not None and account.date_updated is not None

    raw = requests.get(
        f"{running.root}/twilio{account.uri}", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10
    ).json()
    assert set(raw) == ACCOUNT_FIELDS
    for field in ("date_created", "date_updated"):
        assert raw[field].endswith("+0000")  # RFC 2822, as Twilio writes dates
        assert parsedate_to_datetime(raw[field]) == account.date_created


def test_fetch_account_with_wrong_credentials_is_20003(running: Running) -> None:
    for client in (
        running.twilio(auth_token="wrong-token"),
        running.twilio(account_sid=OTHER_ACCOUNT),
    ):
        with pytest.raises(TwilioRestException) as exc:
            client.api.v2010.accounts(ACCOUNT_SID).fetch()
        assert (exc.value.status, exc.value.code) == (401, 20003)


def test_another_account_is_20404_and_only_once_authenticated(running: Running) -> None:
    with pytest.raises(TwilioRestException) as exc:
        running.twilio().api.v2010.accounts(OTHER_ACCOUNT).fetch()
    assert (exc.value.status, exc.value.code) == (404, 20404)
    assert OTHER_ACCOUNT in exc.value.msg and AUTH_TOKEN not in exc.value.msg

    with pytest.raises(TwilioRestException) as exc:
        running.twilio(auth_token="wrong-token").api.v2010.accounts(OTHER_ACCOUNT).fetch()
    assert (exc.value.status, exc.value.code) == (401, 20003)


# --- SendGrid: the key's scopes ----------------------------------------------------------------


def test_scopes_of_the_accepted_key_include_mail_send(running: Running) -> None:
    response = running.sendgrid().client.scopes.get()
    assert response.status_code == 200
    scopes = json.loads(response.body)["scopes"]
    assert "mail.send" in scopes


def test_scopes_with_a_wrong_key_is_sendgrids_401(running: Running) -> None:
    with pytest.raises(UnauthorizedError) as exc:
        running.sendgrid("SG.wrong.key").client.scopes.get()
    assert exc.value.status_code == 401
    assert json.loads(exc.value.body) == {
        "errors": [
            {
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None,
                "help": None,
            }
        ]
    }


def test_scopes_knob_imitates_a_key_that_cannot_send(running: Running) -> None:
    changed = running.control("sendgrid", "POST", "config", json={"api_key_scopes": ["stats.read"]})
    assert changed.status_code == 200 and changed.json()["api_key_scopes"] == ["stats.read"]
    response = running.sendgrid().client.scopes.get()
    assert json.loads(response.body) == {"scopes": ["stats.read"]}

    mail = {
        "personalizations": [{"to": [{"email": "client@example.com"}]}],
        "from": {"email": "noreply@sandbox.proirp.test"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    with pytest.raises(ForbiddenError) as exc:
        running.sendgrid().client.mail.send.post(request_body=mail)
    assert json.loads(exc.value.body)["errors"][0]["message"] == "access forbidden"
    assert running.sandbox.sendgrid.stats()["rejected_403"] == 1
    assert running.sandbox.sendgrid.ledger() == []

    running.control("sendgrid", "POST", "reset")
    assert json.loads(running.sendgrid().client.scopes.get().body) == {"scopes": ["mail.send"]}
    assert running.sendgrid().client.mail.send.post(request_body=mail).status_code == 202


# --- OpenAI: List models -------------------------------------------------------------------------


def test_models_list_answers_like_openai(running: Running) -> None:
    with running.openai() as client:
        models = list(client.models.list())
    assert models and all(model.object == "model" for model in models)
    assert "gpt-4o-mini" in {model.id for model in models}
    assert all(model.created > 0 and model.owned_by for model in models)

    raw = requests.get(
        f"{running.root}/openai/v1/models",
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
        timeout=10,
    ).json()
    assert raw["object"] == "list"
    assert {tuple(sorted(entry)) for entry in raw["data"]} == {
        ("created", "id", "object", "owned_by")
    }


def test_wrong_openai_key_is_invalid_api_key_masked(running: Running) -> None:
    wrong = "sk-wrong-sandbox-token"
    with running.openai(wrong) as client, pytest.raises(openai.AuthenticationError) as exc:
        client.models.list()
    error = exc.value
    assert error.status_code == 401 and error.code == "invalid_api_key"
    assert error.body == {
        "message": (
            "Incorrect API key provided: sk-wro************oken. "
            "You can find your API key at https://platform.openai.com/account/api-keys."
        ),
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert running.sandbox.openai.stats()["rejected_401"] == 1


def test_missing_openai_key_is_openais_401(running: Running) -> None:
    response = requests.get(f"{running.root}/openai/v1/models", timeout=10)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"].startswith("You didn't provide an API key.")
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


def test_openai_faults_and_control_routes(running: Running) -> None:
    assert running.control("openai", "POST", "config", json={"fail_next": 1}).status_code == 200
    with running.openai() as client:
        with pytest.raises(openai.InternalServerError) as exc:
            client.models.list()
        assert exc.value.status_code == 503
        assert list(client.models.list())  # only the next one failed
    assert running.control("openai", "GET", "stats").json()["faults_5xx"] == 1

    refused = running.control(
        "openai", "GET", "config", headers={"Authorization": "Bearer sk-wrong-sandbox-token"}
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


# --- Stripe: Retrieve balance ----------------------------------------------------------------


def test_balance_answers_like_stripe(running: Running) -> None:
    balance = running.stripe().v1.balance.retrieve()
    assert balance.object == "balance"
    assert balance.livemode is False
    [available] = balance.available
    assert (available.amount, available.currency) == (0, "usd")
    assert available.source_types is not None and available.source_types.card == 0
    assert [entry.amount for entry in balance.pending] == [0]


def test_balance_takes_the_key_as_basic_auth_username_too(running: Running) -> None:
    url = f"{running.root}/stripe/v1/balance"
    response = requests.get(url, auth=(STRIPE_KEY, ""), timeout=10)
    assert response.status_code == 200 and response.json()["object"] == "balance"
    assert response.headers["Request-Id"].startswith("req_")
    assert requests.get(url, auth=("sk_test_wrong", ""), timeout=10).status_code == 401


@pytest.mark.parametrize("key", ["sk_live_sandbox_tests_key_4242", "rk_live_sandbox_tests_4242"])
def test_a_live_key_gets_a_livemode_balance(key: str) -> None:
    config = keyed_config(stripe_secret_key=key)
    app = create_sandbox_app(config)
    with serve(app) as root:
        running = Running(config, app.state.sandbox, root)
        assert running.stripe(key).v1.balance.retrieve().livemode is True


def test_wrong_stripe_key_is_stripes_401_masked(running: Running) -> None:
    wrong = "sk_test_wrong_sandbox_key_wxyz"
    with pytest.raises(stripe.AuthenticationError) as exc:
        running.stripe(wrong).v1.balance.retrieve()
    error = exc.value
    assert error.http_status == 401
    assert error.json_body == {
        "error": {
            "message": "Invalid API Key provided: sk_test_******************wxyz",
            "type": "invalid_request_error",
        }
    }
    assert running.sandbox.stripe.stats()["rejected_401"] == 1


def test_missing_stripe_key_is_stripes_401(running: Running) -> None:
    response = requests.get(f"{running.root}/stripe/v1/balance", timeout=10)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"].startswith("You did not provide an API key.")
    assert error["type"] == "invalid_request_error"


def test_stripe_faults(running: Running) -> None:
    config = {"fail_next": 1, "fail_status": 500}
    assert running.control("stripe", "POST", "config", json=config).status_code == 200
    with pytest.raises(stripe.APIError) as exc:
        running.stripe().v1.balance.retrieve()
    assert exc.value.http_status == 500
    assert running.stripe().v1.balance.retrieve().object == "balance"
    refused = running.control("stripe", "POST", "config", json={"fail_status": 502})
    assert refused.status_code == 400 and set(refused.json()["error"]) == {"message", "type"}


# --- the masked key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong",
    ["sk-wrong-sandbox-token", "sk-proj-" + "A1b2C3d4" * 8, "sk-short1234", "sk-x", "Zq9"],
)
def test_openai_refusals_never_carry_the_key(running: Running, wrong: str) -> None:
    with running.openai(wrong) as client, pytest.raises(openai.AuthenticationError) as exc:
        client.models.list()
    assert wrong not in json.dumps(exc.value.body)
    assert wrong not in str(exc.value)


@pytest.mark.parametrize(
    "wrong",
    [
        "sk_test_wrong_sandbox_key_wxyz",
        "sk_live_" + "Z9y8X7w6" * 12,
        "sk_test_1234",
        "rk_X9",
        "Zq9",
    ],
)
def test_stripe_refusals_never_carry_the_key(running: Running, wrong: str) -> None:
    with pytest.raises(stripe.AuthenticationError) as exc:
        running.stripe(wrong).v1.balance.retrieve()
    assert wrong not in json.dumps(exc.value.json_body)
    assert wrong not in str(exc.value)


@pytest.mark.parametrize("head", [0, 6, 8])
@pytest.mark.parametrize("length", [0, 1, 4, 8, 12, 13, 20, 60])
def test_a_masked_key_keeps_at_least_min_hidden_characters_secret(head: int, length: int) -> None:
    key = "".join(chr(ord("a") + i % 26) for i in range(length))
    masked = mask_key(key, head=head)
    assert len(masked) == len(key)
    assert masked.count("*") >= min(len(key), MIN_HIDDEN)
    shown = [(i, char) for i, char in enumerate(masked) if char != "*"]
    assert all(key[i] == char for i, char in shown)  # only the key's own start and end


# --- latency, wiring --------------------------------------------------------------------------

CALLS: dict[str, Callable[[Running], object]] = {
    "twilio": lambda r: r.twilio().api.v2010.accounts(ACCOUNT_SID).fetch(),
    "sendgrid": lambda r: r.sendgrid().client.scopes.get(),
    "openai": lambda r: r.openai().models.list(),
    "stripe": lambda r: r.stripe().v1.balance.retrieve(),
}


@pytest.mark.parametrize("vendor", sorted(CALLS))
def test_answers_wait_the_latency_knob(running: Running, vendor: str) -> None:
    assert running.control(vendor, "POST", "config", json={"latency_ms": 200}).status_code == 200
    started = time.monotonic()
    CALLS[vendor](running)
    assert time.monotonic() - started >= 0.2


def test_sandbox_reset_restores_openai_and_stripe_knobs(running: Running) -> None:
    running.control("openai", "POST", "config", json={"latency_ms": 5})
    running.control("stripe", "POST", "config", json={"latency_ms": 5})
    running.sandbox.reset()
    assert running.sandbox.openai.knobs()["latency_ms"] == 0
    assert running.sandbox.stripe.knobs()["latency_ms"] == 0


def test_index_lists_openai_and_stripe(running: Running) -> None:
    vendors = requests.get(running.root + "/", timeout=10).json()["vendors"]
    assert (vendors["openai"], vendors["stripe"]) == ("/openai/v1", "/stripe/v1")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "STRIPE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_sandbox_keys_without_settings(clean_env: None) -> None:
    config = sandbox_config(Settings(_env_file=None))
    assert config.openai_api_key == SANDBOX_OPENAI_API_KEY
    assert config.stripe_secret_key == SANDBOX_STRIPE_SECRET_KEY


def test_configured_keys_are_the_ones_accepted(clean_env: None) -> None:
    settings = Settings(
        _env_file=None, openai_api_key="sk-ours-0123456789", stripe_secret_key="sk_test_ours_4242"
    )
    config = sandbox_config(settings)
    assert config.openai_api_key == "sk-ours-0123456789"
    assert config.stripe_secret_key == "sk_test_ours_4242"
