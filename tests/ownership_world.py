"""A practice with two clinicians, for the route, role and ownership test: one clinician's client
with every kind of record a route can reach (messages both ways, a picture, an appointment on
their calendar, a campaign), the other clinician's own client and calendar, and a message from
a number that matches no client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent, SyncedCalendarEvent
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.comms.inbox.models import MessageMedia
from proirp.comms.models import Campaign, Communication
from proirp.kit.time import utcnow
from tests.factories import Staff, create_client, create_staff

# What only the owner's client's records hold: none of it may reach the other clinician.
LAST_NAME = "Thistlewood"
PHONE = "+12025550177"
EMAIL = "marlowe.thistlewood@example.com"
UNMATCHED_NUMBER = "+12025550188"


@dataclass
class World:
    owner: Staff  # the clinician on the client's care team
    other: Staff  # a clinician who is not
    staff: Staff
    admin: Staff
    client: Client
    others_client: Client
    outbound: Communication
    inbound: Communication
    media: MessageMedia
    unmatched: Communication
    appointment: ClientCalendarEvent
    owners_event: SyncedCalendarEvent
    others_event: SyncedCalendarEvent
    campaign: Campaign

    def path_ids(self) -> dict[str, str]:
        """The records a path's parameters name, by the parameter's name."""
        return {
            "client_id": self.client.id,
            "comm_id": self.outbound.id,
            "message_id": self.inbound.id,
            "media_id": self.media.id,
            "campaign_id": self.campaign.id,
            "appointment_id": self.appointment.id,
            "event_id": self.owners_event.id,
            "unmatched_id": self.unmatched.id,
            "others_event_id": self.others_event.id,
            "provider": "google",
        }

    def traces(self) -> list[str]:
        """Strings that only the owner's client's records (and the unmatched message) hold."""
        return [
            self.client.id,
            LAST_NAME,
            PHONE,
            PHONE[2:],  # as the pages may show it
            EMAIL,
            self.outbound.id,
            self.inbound.id,
            self.media.id,
            self.unmatched.id,
            UNMATCHED_NUMBER,
            self.appointment.id,
            self.campaign.id,
        ]


def _calendar(db: Session, staff: Staff, title: str) -> SyncedCalendarEvent:
    integration = CalendarIntegration(user_id=staff.user.id, provider="google", status="active")
    db.add(integration)
    db.flush()
    start = utcnow() + timedelta(days=1)
    event = SyncedCalendarEvent(
        integration_id=integration.id,
        provider_event_id=f"evt-{staff.user.id}",
        start_at=start,
        end_at=start + timedelta(minutes=50),
        title=title,
    )
    db.add(event)
    db.flush()
    return event


def build_world(db: Session) -> World:
    owner, other = create_staff(db, role="clinician"), create_staff(db, role="clinician")
    staff, admin = create_staff(db, role="staff"), create_staff(db, role="admin")
    client = create_client(db, first_name="Marlowe", last_name=LAST_NAME, phone=PHONE, email=EMAIL)
    client.sms_consent, client.sms_consent_source = True, "intake form"
    others_client = create_client(db, first_name="Rowan", last_name="Ashby", phone="+12025550166")
    db.add_all(
        [
            CareTeamMember(client_id=client.id, user_id=owner.user.id),
            CareTeamMember(client_id=others_client.id, user_id=other.user.id),
        ]
    )
    campaign = Campaign(
        name="Office closed Friday",
        channel="sms",
        created_by_user_id=owner.user.id,
        body="Our office is closed on Friday.",
        selection={"client_ids": [client.id], "care_team_of": owner.user.id},
        total=1,
        status="scheduled",
        send_at=utcnow() + timedelta(days=2),
    )
    db.add(campaign)
    db.flush()
    outbound = Communication(
        client_id=client.id,
        user_id=owner.user.id,
        channel="sms",
        to_address=PHONE,
        body="Please call our office.",
        provider="twilio",
        status="queued",
        send_at=utcnow() + timedelta(days=1),
    )
    inbound = Communication(
        client_id=client.id,
        direction="inbound",
        channel="sms",
        from_address=PHONE,
        to_address="+15005550006",
        body="Running ten minutes late",
        provider="twilio",
        provider_message_id="SM" + "1" * 32,
        status="received",
    )
    unmatched = Communication(
        direction="inbound",
        channel="sms",
        from_address=UNMATCHED_NUMBER,
        to_address="+15005550006",
        body="Who is this?",
        provider="twilio",
        provider_message_id="SM" + "2" * 32,
        status="received",
    )
    db.add_all([outbound, inbound, unmatched])
    db.flush()
    media = MessageMedia(
        communication_id=inbound.id,
        position=0,
        content_type="image/png",
        url="https://api.twilio.com/media/ME1",
        size=4,
        content="iVBORw==",
        fetched_at=utcnow(),
    )
    db.add(media)
    owners_event = _calendar(db, owner, "Session")
    others_event = _calendar(db, other, "Planning")
    appointment = ClientCalendarEvent(
        client_id=client.id,
        user_id=owner.user.id,
        provider="google",
        provider_event_id=owners_event.provider_event_id,
        integration_id=owners_event.integration_id,
        synced_event_id=owners_event.id,
        start_at=owners_event.start_at,
        end_at=owners_event.end_at,
    )
    db.add(appointment)
    db.flush()
    return World(
        owner=owner,
        other=other,
        staff=staff,
        admin=admin,
        client=client,
        others_client=others_client,
        outbound=outbound,
        inbound=inbound,
        media=media,
        unmatched=unmatched,
        appointment=appointment,
        owners_event=owners_event,
        others_event=others_event,
        campaign=campaign,
    )
