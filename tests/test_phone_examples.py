"""Every phone number the product cites as an example passes the product's own checks: the
one its error messages give (the settings, the integrations check) and those in its docs. A
555 number outside 555-0100 to 555-0199 is not a valid number, and would be refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proirp.checks.messaging import check_twilio
from proirp.clients.validation import normalise_phone
from proirp.comms.sms.recipients import sms_number
from proirp.config import SettingsError, load_settings
from tests.conftest import make_settings
from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent
E164 = re.compile(r"\+\d[\d ()-]{7,18}\d")


def _accepted_everywhere(example: str) -> None:
    number = re.sub(r"[^\d+]", "", example)
    settings = load_settings(_env_file=None, twilio_phone_number=number, practice_phone=number)
    assert settings.twilio_phone_number == number
    assert normalise_phone(number, region="US") == number
    assert sms_number(number, region="US") == number


@pytest.mark.parametrize("value", ["555-0143", "+1555", "call me"])
@pytest.mark.parametrize("variable", ["twilio_phone_number", "practice_phone"])
def test_the_example_in_a_settings_error_is_a_number_the_product_accepts(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{variable: value})
    [example] = E164.findall(str(caught.value))
    _accepted_everywhere(example)


def test_the_example_in_the_integrations_check_is_a_number_the_product_accepts(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="t" * 32,
        twilio_phone_number="+15005550006",
        twilio_api_base=f"http://127.0.0.1:{free_port()}",
        test_phone_number="2025550143x",
    )
    report = check_twilio(settings, dry_run=False)
    [problem] = [line.text for line in report.lines if "TEST_PHONE_NUMBER" in line.text]
    [example] = E164.findall(problem)
    _accepted_everywhere(example)


@pytest.mark.parametrize(
    "document", ["README.md", "docs/THIRD-PARTY-SETUP.md", ".env.example"], ids=str
)
def test_the_phone_numbers_in_the_docs_are_valid_numbers(document: str) -> None:
    found = E164.findall((ROOT / document).read_text())
    for example in found:
        number = re.sub(r"[^\d+]", "", example)
        assert load_settings(_env_file=None, twilio_phone_number=number), example
