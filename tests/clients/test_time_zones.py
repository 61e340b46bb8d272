"""Time-zone names are checked in one place, for client records, calendar events and the
practice's setting: a folder of the time-zone database (`America`), a path, an overlong name or
one with a NUL is a 422 naming the field, or one line naming PRACTICE_TIMEZONE at start-up;
never a 500 or a traceback, and the name is never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from proirp.cli import app as cli
from proirp.config import SettingsError, load_settings
from proirp.config.time_zones import check_time_zone
from proirp.kit.input import NUL_REFUSED
from tests.factories import Staff, create_client

BAD_TIME_ZONES = [
    pytest.param("America", id="a folder"),
    pytest.param("Etc", id="another folder"),
    pytest.param("US", id="a folder of links"),
    pytest.param("../../etc/passwd", id="a path out"),
    pytest.param("America/../Europe/Paris", id="a path through"),
    pytest.param("/usr/share/zoneinfo/UTC", id="an absolute path"),
    pytest.param("zone.tab", id="a file that is not a zone"),
    pytest.param("America/", id="a trailing slash"),
    pytest.param("Mars/Olympus", id="unknown"),
    pytest.param("America/Chicago\x00", id="a NUL"),
    pytest.param("A" * 64, id="long"),
    pytest.param("A" * 5000, id="very long"),
]
NOT_A_ZONE = "not an IANA time zone, e.g. America/Chicago"  # never the name given
# What the API answers; a name longer than the field's 64 characters, or holding a NUL (which
# every body refuses), is refused for that.
REFUSALS = {NOT_A_ZONE, "String should have at most 64 characters", NUL_REFUSED}
GOOD_TIME_ZONES = ["America/Chicago", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"]


@pytest.mark.parametrize("name", BAD_TIME_ZONES)
def test_the_check_refuses_what_is_not_a_time_zone(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_time_zone(name)
    assert str(caught.value) == NOT_A_ZONE


@pytest.mark.parametrize("name", [*GOOD_TIME_ZONES, ""])
def test_the_check_takes_the_zones_of_the_database(name: str) -> None:
    if name:
        assert check_time_zone(name) == name
    else:
        with pytest.raises(ValueError):
            check_time_zone(name)


@pytest.mark.parametrize("name", BAD_TIME_ZONES)
def test_a_new_client_in_a_bad_time_zone_is_a_422(api: TestClient, staff: Staff, name: str) -> None:
    body = {"first_name": "Avery", "last_name": "Quinn", "timezone": name}
    response = api.post("/clients", json=body, headers=staff.headers)
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"timezone"} and fields["timezone"] in REFUSALS


@pytest.mark.parametrize("name", BAD_TIME_ZONES)
def test_a_client_moved_to_a_bad_time_zone_is_a_422(
    api: TestClient, db: Session, staff: Staff, name: str
) -> None:
    client = create_client(db, timezone="America/Chicago")
    db.commit()
    response = api.patch(f"/clients/{client.id}", json={"timezone": name}, headers=staff.headers)
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"timezone"} and fields["timezone"] in REFUSALS
    db.refresh(client)
    assert client.timezone == "America/Chicago"


def test_an_empty_time_zone_means_the_practice_s_or_is_refused(
    api: TestClient, db: Session, staff: Staff
) -> None:
    # As for the other optional fields, empty text on a new client means "not given".
    body = {"first_name": "Avery", "last_name": "Quinn", "timezone": ""}
    created = api.post("/clients", json=body, headers=staff.headers)
    assert created.status_code == 201, created.text
    assert created.json()["client"]["timezone"] == "America/Chicago"
    client_id = created.json()["client"]["id"]
    cleared = api.patch(f"/clients/{client_id}", json={"timezone": ""}, headers=staff.headers)
    assert cleared.status_code == 422
    assert cleared.json()["error"]["fields"] == {"timezone": "required"}


@pytest.mark.parametrize("name", [*BAD_TIME_ZONES, pytest.param("", id="empty")])
def test_practice_timezone_must_be_a_time_zone(name: str) -> None:
    if not name:  # unset: clients then need a time zone of their own
        assert load_settings(_env_file=None, practice_timezone=name).practice_timezone is None
        return
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, practice_timezone=name)
    assert str(caught.value) == (
        "invalid settings: PRACTICE_TIMEZONE: must be an IANA time zone, e.g. America/New_York"
    )


@pytest.mark.parametrize("name", ["America", "Etc", "A" * 5000])
def test_start_up_with_a_bad_practice_timezone_stops_with_one_line(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("PRACTICE_TIMEZONE", name)
    result = CliRunner().invoke(cli, ["db", "check"])
    assert result.exit_code == 2
    assert result.output == (
        "proirp: invalid settings: PRACTICE_TIMEZONE: must be an IANA time zone, "
        "e.g. America/New_York\n"
    )
