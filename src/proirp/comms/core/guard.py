"""The guard: may this message go to this client, on this channel, through this provider?

Consent, the SMS opt-out list, the email suppression list, and the BAA rule (no PHI through a
provider without a signed BAA). A refusal is a `BlockReason`: a stable code, the request field a
person should change, and the sentence that tells them how.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.clients.identity import address_hashes
from proirp.clients.models import Channel, Client, OptOut
from proirp.clients.phi import ClientIdentity, find_phi
from proirp.clients.repository import opted_out_addresses
from proirp.comms.core.html import html_text
from proirp.comms.models import Communication

GENERIC_EXAMPLE = "A generic message such as 'Please call our office.' is fine."


@dataclass(frozen=True)
class BlockReason:
    """Why the guard refused a message."""

    # no_consent | opted_out | suppressed | phi_without_baa | client_archived | address_changed
    code: str
    field: str  # the request field to change: client_id, body, subject
    message: str  # shown to the user and kept as the message's status reason


def suppression_key(address: str) -> str:
    """How an address is kept on the suppression list (case does not matter in practice)."""
    return address.strip().lower()


def suppressed_addresses(session: Session, addresses: Sequence[str]) -> dict[str, str]:
    """Which addresses are on the email suppression list, with the reason they are there."""
    keys = {suppression_key(a) for a in addresses if a}
    if not keys:
        return {}
    wanted = address_hashes(session, Channel.EMAIL, keys)
    stmt = select(OptOut.address_hash, OptOut.reason).where(
        OptOut.channel == Channel.EMAIL,
        OptOut.address_hash.in_(wanted),
        OptOut.revoked_at.is_(None),
    )
    return {key: reason for found, reason in session.execute(stmt) for key in wanted[found]}


def sms_consent_block(
    session: Session, client: Client, to: str, *, opted_out: set[str] | None = None
) -> BlockReason | None:
    """Why this client must not get an SMS at `to` now, or None if they may.

    `opted_out` is the set of opted-out numbers when the caller has already looked them up
    (a campaign does, once per chunk).
    """
    if not client.sms_consent:
        return BlockReason("no_consent", "client_id", "The client has not consented to SMS.")
    if opted_out is None:
        opted_out = opted_out_addresses(session, Channel.SMS, [to])
    if to in opted_out:
        return BlockReason("opted_out", "client_id", "The client opted out of SMS (replied STOP).")
    return None


def email_consent_block(
    session: Session, client: Client, to: str, *, suppressed: Mapping[str, str] | None = None
) -> BlockReason | None:
    """Why this client must not get an email at `to` now, or None if they may."""
    if not client.email_consent:
        return BlockReason("no_consent", "client_id", "The client has not consented to email.")
    if suppressed is None:
        suppressed = suppressed_addresses(session, [to])
    why = suppressed.get(suppression_key(to))
    if why is not None:
        return BlockReason(
            "suppressed",
            "client_id",
            f"The address is on the email suppression list: {why}",
        )
    return None


def identity_of(client: Client | None) -> ClientIdentity | None:
    if client is None:
        return None
    return ClientIdentity(
        client.first_name, client.last_name, client.date_of_birth, client.phone, client.email
    )


def sms_phi_block(has_baa: bool, client: Client, body: str) -> BlockReason | None:
    """Without a BAA with Twilio, an SMS may not carry PHI: name what to remove."""
    if has_baa:
        return None
    found = find_phi(body, client=identity_of(client))
    if not found:
        return None
    message = (
        "Without a signed BAA with Twilio, SMS may not carry PHI; remove "
        + ", ".join(found)
        + ". "
        + GENERIC_EXAMPLE
    )
    return BlockReason("phi_without_baa", "body", message)


def email_phi_block(
    has_baa: bool, client: Client | None, subject: str | None, *parts: str | None
) -> BlockReason | None:
    """Without a BAA with SendGrid, an email may not carry PHI: name what to remove and where."""
    if has_baa:
        return None
    identity = identity_of(client)
    problems: list[str] = []
    blamed: list[str] = []
    # An HTML part is read as markup (an attribute's text) and as its reader sees it (a word
    # split by tags, or spelt with an entity, whole again).
    texts = [part for part in parts if part]
    texts += [html_text(part) for part in texts if "<" in part or "&" in part]
    for where, text in (("subject", subject or ""), ("body", "\n".join(texts))):
        found = find_phi(text, client=identity)
        if found:
            problems.append(", ".join(found) + f" from the {where}")
            blamed.append(where)
    if not problems:
        return None
    message = (
        "Without a signed BAA with SendGrid, email may not carry PHI; remove "
        + "; and ".join(problems)
        + ". "
        + GENERIC_EXAMPLE
    )
    return BlockReason("phi_without_baa", blamed[0], message)


def blocks_at_send(
    session: Session, comms: Sequence[Communication], *, has_baa: bool
) -> dict[str, BlockReason]:
    """The guard again, as claimed messages are about to go (a scheduled one may have waited
    days): the client's record (archived since, or its number or address changed since: the
    old one may be someone else's now), consent, the opt-out and suppression lists, and for a
    message of its own (not a campaign's, whose shared content was checked as it fanned out)
    the BAA rule. Message id → why it must not go."""
    if not comms:
        return {}
    ids = {comm.client_id for comm in comms if comm.client_id}
    clients = {c.id: c for c in session.scalars(select(Client).where(Client.id.in_(ids)))}
    texts = [comm.to_address for comm in comms if comm.channel == "sms"]
    opted_out = opted_out_addresses(session, Channel.SMS, texts)
    suppressed = suppressed_addresses(
        session, [comm.to_address for comm in comms if comm.channel == "email"]
    )
    found: dict[str, BlockReason] = {}
    for comm in comms:
        # What the product sends by itself (a reply to a client's own text, a note to staff)
        # asks no consent: only the opt-out and suppression lists can refuse it.
        client = clients.get(comm.client_id) if comm.client_id and not comm.purpose else None
        block = _record_block_at_send(comm, client) if client is not None else None
        if block is None and comm.channel == "sms":
            block = _sms_block_at_send(session, comm, client, opted_out, has_baa)
        elif block is None:
            block = _email_block_at_send(session, comm, client, suppressed, has_baa)
        if block is not None:
            found[comm.id] = block
    return found


def _record_block_at_send(comm: Communication, client: Client) -> BlockReason | None:
    """Why the message must not go because the client's record changed after it was written:
    archived, or no longer at the number or address it was written for (whoever wrote it
    writes it again, to the new one, if it is still to go)."""
    if client.deleted_at is not None:
        return BlockReason(
            "client_archived",
            "client_id",
            "The client's record was archived after this was written.",
        )
    if comm.channel == "sms":
        if client.phone == comm.to_address:
            return None
        kind = "phone number"
    else:
        if client.email and suppression_key(client.email) == suppression_key(comm.to_address):
            return None
        kind = "email address"
    return BlockReason(
        "address_changed",
        "client_id",
        f"The client's {kind} changed after this was written; write it again to reach them.",
    )


def _sms_block_at_send(
    session: Session,
    comm: Communication,
    client: Client | None,
    opted_out: set[str],
    has_baa: bool,
) -> BlockReason | None:
    if client is None:  # a message to an address alone: only the list can refuse it
        if comm.to_address in opted_out:
            return BlockReason("opted_out", "client_id", "The number opted out of SMS.")
        return None
    block = sms_consent_block(session, client, comm.to_address, opted_out=opted_out)
    if block is None and comm.campaign_id is None:
        block = sms_phi_block(has_baa, client, comm.body)
    return block


def _email_block_at_send(
    session: Session,
    comm: Communication,
    client: Client | None,
    suppressed: Mapping[str, str],
    has_baa: bool,
) -> BlockReason | None:
    if client is None:
        why = suppressed.get(suppression_key(comm.to_address))
        if why is None:
            return None
        return BlockReason(
            "suppressed", "client_id", f"The address is on the email suppression list: {why}"
        )
    block = email_consent_block(session, client, comm.to_address, suppressed=suppressed)
    if block is None and comm.campaign_id is None and comm.substitutions is None:
        block = email_phi_block(has_baa, client, comm.subject, comm.body, comm.body_html)
    return block
