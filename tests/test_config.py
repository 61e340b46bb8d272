"""Settings: every bad value stops start-up with one message naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proirp.cli import app as cli
from proirp.config import Settings, SettingsError, load_settings


def load(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("port", "eighty", "PORT"),
        ("port", "70000", "PORT"),
        ("queue_backend", "rabbitmq", "QUEUE_BACKEND"),
        ("twilio_phone_number", "555-0143", "TWILIO_PHONE_NUMBER"),
        ("sendgrid_from_email", "not-an-email", "SENDGRID_FROM_EMAIL"),
        ("public_base_url", "localhost:8080", "PUBLIC_BASE_URL"),
        ("database_url", "mysql://x/y", "DATABASE_URL"),
        ("practice_timezone", "Mars/Olympus", "PRACTICE_TIMEZONE"),
        ("twilio_hipaa_enabled", "perhaps", "TWILIO_HIPAA_ENABLED"),
        ("max_request_body_bytes", "100", "MAX_REQUEST_BODY_BYTES"),
        # Below SendGrid's batch size: whole batches of events would be refused, then lost.
        ("sendgrid_events_max_body_bytes", "500000", "SENDGRID_EVENTS_MAX_BODY_BYTES"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(**{variable: value})
    message = str(caught.value)
    assert expected in message
    assert message.count("\n") == 0


def test_message_never_echoes_a_secret_value() -> None:
    with pytest.raises(SettingsError) as caught:
        load(proirp_env="production", twilio_auth_token="your_twilio_token_here")
    assert "TWILIO_AUTH_TOKEN" in str(caught.value)
    assert "your_twilio_token_here" not in str(caught.value)


@pytest.mark.parametrize(
    "placeholder",
    ["your_token", "SG.xxxxxxxxxxxxx", "changeme", "GOCSPX-xxxxxxxxxxxxx"],
)
def test_placeholder_secrets_refused_in_production(placeholder: str) -> None:
    with pytest.raises(SettingsError, match="SENDGRID_API_KEY"):
        load(
            proirp_env="production",
            proirp_encryption_keys="k" * 44,
            sendgrid_api_key=placeholder,
        )


def test_placeholder_secrets_allowed_in_development() -> None:
    settings = load(proirp_env="development", sendgrid_api_key="SG.xxxxxxxxxxxxx")
    assert settings is not None


def test_production_requires_encryption_keys() -> None:
    with pytest.raises(SettingsError, match="PROIRP_ENCRYPTION_KEYS"):
        load(proirp_env="production")


def test_production_requires_audit_chain_keys() -> None:
    with pytest.raises(SettingsError, match="AUDIT_CHAIN_KEYS must be set in production"):
        load(proirp_env="production", proirp_encryption_keys="k" * 44)


def test_audit_chain_keys_are_a_list_of_long_distinct_keys() -> None:
    first, second = "a" * 43, "b" * 32
    settings = load(audit_chain_keys=f" {first} ,{second},")
    assert [key.get_secret_value() for key in settings.audit_chain_keys] == [first, second]

    for keys, problem in [("shortkey", "at least 32 characters"), (f"{first},{first}", "twice")]:
        with pytest.raises(SettingsError, match=f"AUDIT_CHAIN_KEYS: .*{problem}") as caught:
            load(audit_chain_keys=keys)
        assert "shortkey" not in str(caught.value) and first not in str(caught.value)


def test_the_audit_anchor_file_defaults_to_the_data_folder(tmp_path: Path) -> None:
    assert load(proirp_data_dir=tmp_path).audit_anchor_file == tmp_path / "audit" / "anchors"
    elsewhere = tmp_path / "elsewhere" / "anchors"
    assert load(audit_anchor_path=str(elsewhere)).audit_anchor_file == elsewhere
    assert load(audit_anchor_path="", proirp_data_dir=tmp_path).audit_anchor_file.parent.name == (
        "audit"
    )


def test_defaults_and_the_node_versions_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:  # CI sets DATABASE_URL, QUEUE_BACKEND, ...
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("TWILIO_PHONE_NUMBER", "+1 (202) 555-0143")
    monkeypatch.setenv("SENDGRID_HIPAA_ENABLED", "true")
    monkeypatch.setenv("PROIRP_ENCRYPTION_KEYS", "a, b")
    settings = load_settings(_env_file=None)
    assert settings.port == 8080
    assert settings.queue_backend == "sqlite"
    assert settings.sqlalchemy_url == "sqlite:///var/proirp.db"
    assert settings.twilio_phone_number == "+12025550143"
    assert settings.sendgrid_hipaa_enabled is True
    assert [k.get_secret_value() for k in settings.proirp_encryption_keys] == ["a", "b"]


def test_plain_postgres_url_uses_psycopg3() -> None:
    settings = load(database_url="postgresql://user@db.internal/proirp")
    assert settings.sqlalchemy_url == "postgresql+psycopg://user@db.internal/proirp"


def test_cli_stops_with_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("PORT", "not-a-port")
    result = CliRunner().invoke(cli, ["db", "check"])
    assert result.exit_code == 2
    assert "PORT" in result.output
    assert "Traceback" not in result.output


def _env_example() -> list[str]:
    return (Path(__file__).parents[1] / ".env.example").read_text().splitlines()


def _variables_read_by_the_code() -> set[str]:
    """Every setting, and any variable the code reads from the environment by itself."""
    names = {name.upper() for name in Settings.model_fields}
    source = Path(__file__).parents[1] / "src" / "proirp"
    read = re.compile(r"(?:os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*[\"']([A-Z0-9_]+)")
    for path in source.rglob("*.py"):
        names |= set(read.findall(path.read_text()))
    return names


def test_env_example_lists_every_variable_the_code_reads() -> None:
    listed = {
        line.split("=", 1)[0].strip()
        for line in _env_example()
        if "=" in line and not line.startswith("#")
    }
    read = _variables_read_by_the_code()
    assert not read - listed, f".env.example lacks {sorted(read - listed)}"
    assert not listed - read, f".env.example lists what nothing reads: {sorted(listed - read)}"


def test_every_variable_in_env_example_has_its_line_of_explanation() -> None:
    lines = _env_example()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert number and lines[number - 1].startswith("# "), f"{line} has no comment above"


def test_a_send_waiting_for_its_answer_is_never_reconciled() -> None:
    with pytest.raises(SettingsError, match="RECONCILE_AFTER_SECONDS"):
        load(send_timeout_seconds=10, reconcile_after_seconds=15)


def test_production_refuses_a_plain_http_google_sign_in() -> None:
    with pytest.raises(SettingsError, match="GOOGLE_OAUTH_BASE"):
        load(
            proirp_env="production",
            proirp_encryption_keys="k" * 44,
            audit_chain_keys="a" * 43,
            google_oauth_base="http://accounts.example.com",
        )


def test_empty_microsoft_authority_and_ca_bundle_mean_the_defaults() -> None:
    settings = load_settings(
        microsoft_authority="",
        microsoft_ca_bundle="",
        microsoft_client_id="app-id",
        microsoft_client_secret="app-secret",
        microsoft_tenant_id="contoso.onmicrosoft.com",
    )
    connection = settings.microsoft_connection()
    assert connection.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert connection.graph_base == "https://graph.microsoft.com/v1.0"
    assert connection.ca_bundle is None


def test_without_microsoft_credentials_the_sandbox_is_reached_over_tls() -> None:
    settings = load_settings(microsoft_client_id=None, serve_sandbox_tls_port=9443)
    connection = settings.microsoft_connection()
    assert connection.authority.startswith("https://127.0.0.1:9443/sandbox/microsoft/")
    assert connection.ca_bundle == settings.sandbox_tls_directory / "ca.pem"
    assert settings.sandbox_mode


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"twilio_account_sid": "AC" + "1" * 32}, "TWILIO_AUTH_TOKEN is not set"),
        ({"twilio_auth_token": "t" * 32}, "TWILIO_ACCOUNT_SID is not set"),
        ({"google_client_secret": "s" * 24}, "GOOGLE_CLIENT_ID is not set"),
        ({"microsoft_client_id": "5a4db0c5-0000-4000-8000-00000000a11e"}, "MICROSOFT_CLIENT"),
    ],
)
def test_half_a_credential_pair_stops_start_up(values: dict[str, str], missing: str) -> None:
    # Half a pair would quietly send that provider's traffic to the sandbox.
    with pytest.raises(SettingsError, match=missing):
        load(**values)


def test_an_empty_pair_is_no_pair() -> None:
    assert not load(twilio_account_sid="", twilio_auth_token="").twilio_configured


def test_a_typo_in_the_check_s_test_number_does_not_stop_the_server() -> None:
    assert load(test_phone_number="2025550143x", test_email="not an address").test_email


def test_production_never_uses_the_sandbox() -> None:
    production = load(
        proirp_env="production", proirp_encryption_keys="k" * 44, audit_chain_keys="a" * 43
    )
    assert not production.sandbox_mode
    assert production.twilio_connection().api_base == "https://api.twilio.com"
    assert load().sandbox_mode


@pytest.mark.parametrize(
    ("environment", "log_json", "expected"),
    [
        ("production", "", True),
        ("production", "false", False),
        ("development", "", False),
        ("development", "true", True),
        ("test", "", False),
    ],
)
def test_logs_are_json_lines_in_production_unless_log_json_says_otherwise(
    environment: str, log_json: str, expected: bool
) -> None:
    keys = {"proirp_encryption_keys": "k" * 44, "audit_chain_keys": "a" * 43}
    settings = load(proirp_env=environment, log_json=log_json, **keys)
    assert settings.logs_as_json is expected


def test_a_log_json_that_is_not_a_yes_or_no_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="LOG_JSON"):
        load(log_json="sometimes")


@pytest.mark.parametrize(
    "variable",
    [
        "public_base_url",
        "twilio_api_base",
        "sendgrid_api_base",
        "google_api_base",
        "google_oauth_base",
        "microsoft_authority",
        "microsoft_graph_base",
        "openai_api_base",
        "stripe_api_base",
    ],
)
def test_production_refuses_plain_http_for_itself_and_every_provider(variable: str) -> None:
    # Webhook signatures, unsubscribe links, API keys and tokens would cross in the clear.
    with pytest.raises(SettingsError) as caught:
        load(
            proirp_env="production",
            proirp_encryption_keys="k" * 44,
            audit_chain_keys="a" * 43,
            **{variable: "http://provider.example.net/v1"},
        )
    message = str(caught.value)
    assert f"{variable.upper()} must be https:// in production" in message
    assert "provider.example.net" not in message
    assert load(**{variable: "http://127.0.0.1:8099/sandbox"})  # development may


def test_production_takes_https_everywhere() -> None:
    settings = load(
        proirp_env="production",
        proirp_encryption_keys="k" * 44,
        audit_chain_keys="a" * 43,
        public_base_url="https://portal.example-practice.org",
        twilio_api_base="https://api.twilio.com",
    )
    assert settings.base_url == "https://portal.example-practice.org"
