"""A clinician's campaigns: for their care team alone (named clients refused otherwise, a filter
kept to the team when it fans out), and only their own campaigns in their list."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.comms.campaigns.fan_out import recipient_ids
from proirp.comms.models import Campaign
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client, create_staff


def _client(db: Session, phone: str, *, clinician: Staff | None = None) -> Client:
    client = create_client(db, phone=phone, email=None)
    client.sms_consent, client.sms_consent_source = True, "intake form"
    if clinician is not None:
        db.add(CareTeamMember(client_id=client.id, user_id=clinician.user.id))
    db.flush()
    return client


def _bulk(api: TestClient, who: Staff, **selection: object) -> dict:
    body = {"type": "sms", "body": "Our office is closed on Friday.", **selection}
    answer = api.post("/comms/bulk", json=body, headers=who.headers)
    return {"status": answer.status_code, **answer.json()}


def test_a_clinicians_campaign_names_only_their_clients(api: TestClient, db: Session) -> None:
    clinician = create_staff(db, role="clinician")
    mine = _client(db, "+12025550101", clinician=clinician)
    theirs = _client(db, "+12025550102", clinician=create_staff(db, role="clinician"))
    db.commit()

    refused = _bulk(api, clinician, client_ids=[mine.id, theirs.id])
    assert refused["status"] == 422, refused
    assert refused["error"]["fields"] == {"client_ids": f"1 unknown: {theirs.id}"}
    assert db.query(Campaign).count() == 0

    started = _bulk(api, clinician, client_ids=[mine.id])
    assert started["status"] == 202, started
    campaign = db.get(Campaign, started["campaign"]["id"])
    assert campaign is not None
    assert campaign.selection == {"client_ids": [mine.id], "care_team_of": clinician.user.id}


def test_a_clinicians_filter_selects_from_their_care_team_when_it_fans_out(
    api: TestClient, db: Session
) -> None:
    clinician = create_staff(db, role="clinician")
    mine = _client(db, "+12025550103", clinician=clinician)
    _client(db, "+12025550104", clinician=create_staff(db, role="clinician"))
    _client(db, "+12025550105")  # on no team
    db.commit()
    started = _bulk(api, clinician, filter={"sms_consent": True})
    assert started["status"] == 202, started
    campaign = db.get(Campaign, started["campaign"]["id"])
    assert campaign is not None
    assert recipient_ids(db, campaign.selection) == [mine.id]

    # Assigned later: the filter is applied when the campaign fans out, to the team then.
    later = _client(db, "+12025550106", clinician=clinician)
    assert recipient_ids(db, campaign.selection) == [mine.id, later.id]


def test_a_client_taken_off_the_team_before_the_fan_out_is_left_out(
    api: TestClient, db: Session
) -> None:
    clinician = create_staff(db, role="clinician")
    kept = _client(db, "+12025550107", clinician=clinician)
    moved = _client(db, "+12025550108", clinician=clinician)
    db.commit()
    started = _bulk(api, clinician, client_ids=[kept.id, moved.id])
    campaign = db.get(Campaign, started["campaign"]["id"])
    assert campaign is not None
    db.query(CareTeamMember).filter_by(client_id=moved.id).delete()
    assert recipient_ids(db, campaign.selection) == [kept.id]


def test_front_desk_campaigns_reach_everyone(api: TestClient, db: Session) -> None:
    staff = create_staff(db, role="staff")
    one = _client(db, "+12025550109", clinician=create_staff(db, role="clinician"))
    two = _client(db, "+12025550110")
    db.commit()
    started = _bulk(api, staff, client_ids=[one.id, two.id])
    campaign = db.get(Campaign, started["campaign"]["id"])
    assert campaign is not None
    assert "care_team_of" not in campaign.selection
    assert recipient_ids(db, campaign.selection) == [one.id, two.id]


def test_a_clinician_follows_and_cancels_only_their_own_campaigns(
    api: TestClient, db: Session
) -> None:
    clinician, staff = create_staff(db, role="clinician"), create_staff(db, role="staff")
    mine = _client(db, "+12025550111", clinician=clinician)
    db.commit()
    later = (utcnow() + timedelta(days=7)).isoformat()
    own = _bulk(api, clinician, client_ids=[mine.id], send_at=later)["campaign"]
    others = _bulk(api, staff, client_ids=[mine.id], send_at=later)["campaign"]

    listed = api.get("/campaigns", headers=clinician.headers).json()["campaigns"]
    assert [c["id"] for c in listed] == [own["id"]]
    everyone = api.get("/campaigns", headers=staff.headers).json()["campaigns"]
    assert {c["id"] for c in everyone} == {own["id"], others["id"]}
    assert api.get(f"/campaigns/{others['id']}", headers=clinician.headers).status_code == 404
    refused = api.post(f"/campaigns/{others['id']}/cancel", headers=clinician.headers)
    assert refused.status_code == 404
    cancelled = api.post(f"/campaigns/{own['id']}/cancel", headers=clinician.headers)
    assert (cancelled.status_code, cancelled.json()["campaign"]["status"]) == (200, "cancelled")


def test_a_name_filter_matches_names_only(db: Session) -> None:
    # The names are encrypted (decision 0033); the filter decrypts its candidates and keeps those
    # whose name matches, never one whose phone holds the digits typed.
    okafor = create_client(db, first_name="Marisol", last_name="Okafor", phone="+13125550188")
    create_client(db, first_name="Ngozi", last_name="Eze", phone="+13125550555")
    fuller = create_client(db, first_name="Mari", last_name="Okafor-Lee", phone=None)
    assert recipient_ids(db, {"filter": {"q": "okafor"}}) == [okafor.id, fuller.id]
    assert recipient_ids(db, {"filter": {"q": "555"}}) == []
    assert recipient_ids(db, {"filter": {"q": "mari okafor"}}) == [okafor.id, fuller.id]
    assert recipient_ids(db, {"filter": {"q": "ma ok"}}) == [okafor.id, fuller.id]
    assert recipient_ids(db, {"filter": {"q": "eze 312"}}) == []


def test_a_filter_of_spaces_alone_is_refused(api: TestClient, db: Session) -> None:
    # It would be no filter at all: the campaign would go to every client.
    staff = create_staff(db, role="staff")
    db.commit()
    refused = _bulk(api, staff, filter={"q": "   "})
    assert refused["status"] == 422, refused
    assert list(refused["error"]["fields"]) == ["filter.q"]
    assert db.query(Campaign).count() == 0
