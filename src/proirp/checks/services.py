"""OpenAI and Stripe, which Pro IRP does not use yet: their keys are present, well-formed and
accepted by one read-only call. Neither is sent anything else, so neither needs a BAA here.

Their refusals quote part of the key, so a reason is built from the status and code only.
"""

from __future__ import annotations

import re

import openai
import stripe

from proirp.checks.report import Report
from proirp.config import Settings

NO_PHI = "none needed (Pro IRP sends it no PHI)"
STRIPE_SECRET = re.compile(r"(sk|rk)_(live|test)_\w+")
STRIPE_PUBLISHABLE = re.compile(r"pk_(live|test)_\w+")


def openai_report(_: Settings) -> Report:
    return Report("OpenAI", "OpenAI", "🤖", baa=NO_PHI)


def stripe_report(_: Settings) -> Report:
    return Report("Stripe", "Stripe (payments)", "💳", baa=NO_PHI)


def check_openai(settings: Settings) -> Report:
    report = openai_report(settings)
    if settings.openai_api_key is None:
        report.not_configured("OPENAI_API_KEY is not set (optional)")
        return report
    key = settings.openai_api_key.get_secret_value()
    if not key.startswith("sk-"):
        report.fail("OPENAI_API_KEY is not an OpenAI API key (they start with sk-)")
        return report
    client = openai.OpenAI(
        api_key=key,
        base_url=str(settings.openai_api_base).rstrip("/"),
        max_retries=0,
        timeout=settings.send_timeout_seconds,
    )
    try:
        client.models.list()
    except openai.AuthenticationError as exc:
        report.fail(f"OpenAI refused OPENAI_API_KEY (HTTP 401, {exc.code or 'invalid key'})")
    except openai.PermissionDeniedError as exc:
        report.fail(f"OpenAI refused: the key may not list models (HTTP 403, {exc.code})")
    except openai.RateLimitError as exc:
        report.fail(f"OpenAI refused: quota or rate limit reached (HTTP 429, {exc.code})")
    except openai.APIStatusError as exc:
        report.fail(f"OpenAI answered HTTP {exc.status_code}")
    except openai.APIConnectionError:
        report.fail("OpenAI could not be reached")
    else:
        report.ok("API key accepted (models listed)")
    finally:
        client.close()
    return report


def check_stripe(settings: Settings) -> Report:
    report = stripe_report(settings)
    secret = settings.stripe_secret_key
    publishable = settings.stripe_publishable_key
    if secret is None and not publishable and settings.stripe_webhook_secret is None:
        report.not_configured("STRIPE_SECRET_KEY is not set (optional)")
        return report
    if secret is None:
        report.fail("STRIPE_SECRET_KEY is not set, though other Stripe settings are")
        return report
    key = secret.get_secret_value()
    found = STRIPE_SECRET.fullmatch(key)
    if not found:
        report.fail(
            "STRIPE_SECRET_KEY is not a secret key (sk_live_, sk_test_, rk_live_, rk_test_)"
        )
        return report
    mode = found.group(2)
    if not _keys_agree(report, mode, publishable, settings):
        return report
    client = stripe.StripeClient(
        key,
        base_addresses={"api": str(settings.stripe_api_base).rstrip("/")},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=settings.send_timeout_seconds),
    )
    try:
        client.v1.balance.retrieve()
    except stripe.AuthenticationError:
        report.fail("Stripe refused STRIPE_SECRET_KEY (HTTP 401)")
    except stripe.PermissionError:
        report.fail("Stripe refused: the restricted key may not read the balance (HTTP 403)")
    except stripe.APIConnectionError:
        report.fail("Stripe could not be reached")
    except stripe.StripeError as exc:
        report.fail(f"Stripe answered HTTP {exc.http_status} ({exc.code or 'no code'})")
    else:
        report.ok(f"Secret key accepted ({mode} mode; balance read)")
    return report


def _keys_agree(report: Report, mode: str, publishable: str | None, settings: Settings) -> bool:
    if publishable:
        found = STRIPE_PUBLISHABLE.fullmatch(publishable)
        if not found:
            report.fail("STRIPE_PUBLISHABLE_KEY is not a publishable key (pk_live_, pk_test_)")
            return False
        if found.group(1) != mode:
            report.fail(
                f"STRIPE_PUBLISHABLE_KEY is a {found.group(1)}-mode key but STRIPE_SECRET_KEY "
                f"a {mode}-mode one: use a pair from the same mode"
            )
            return False
    webhook = settings.stripe_webhook_secret
    if webhook is not None and not webhook.get_secret_value().startswith("whsec_"):
        report.fail("STRIPE_WEBHOOK_SECRET is not a signing secret (whsec_…)")
        return False
    return True
