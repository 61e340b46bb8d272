"""On PostgreSQL, everything that changes a message takes the writers' lock before the message's
row, as the worker does: a status callback arriving while the worker records the send must wait
its turn, not deadlock with it, and then read what the worker wrote."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.service import RequestOrigin
from proirp.comms.core import repository
from proirp.comms.core.events import apply_status_event
from proirp.comms.inbox.service import read_thread
from proirp.comms.models import Communication
from proirp.comms.sms.dispatch import reconcile
from proirp.comms.sms.status import StatusCallback, callback_event
from proirp.integrations.base import ProviderMessage
from proirp.kit.db import lock_shared_writes
from proirp.kit.time import utcnow
from tests.comms.rows import message_row, own_database
from tests.factories import create_client, create_user

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("locks"), "postgres") as factory:
        yield factory


def sending(factory: sessionmaker[Session]) -> Communication:
    return message_row(factory, status="sending", claimed_at=utcnow())


def worker_records_the_send_while(
    factory: sessionmaker[Session], comm_id: str, other: threading.Thread
) -> None:
    """The worker's order: the chain's lock, then the row. With `other` started in between, the
    row update must not wait on `other` (it would be a deadlock: `other` then waits for us)."""
    with factory() as session:
        lock_shared_writes(session)
        other.start()
        other.join(timeout=1.0)  # give it time to take whatever it takes first
        session.execute(text("SET LOCAL lock_timeout = '3s'"))
        session.execute(
            text("UPDATE communications SET status = 'sent' WHERE id = :id"), {"id": comm_id}
        )
        session.commit()
    other.join(timeout=10)


def test_a_status_callback_waits_for_the_chain_before_touching_the_row(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    comm = sending(factory)
    failures: list[BaseException] = []

    def callback() -> None:
        try:
            sent = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "sent"}
            event = callback_event(StatusCallback.model_validate(sent), comm.id)
            assert event is not None
            with factory() as session:
                apply_status_event(session, event, RequestOrigin())
                session.commit()
        except BaseException as exc:
            failures.append(exc)

    worker_records_the_send_while(factory, comm.id, threading.Thread(target=callback))
    assert failures == []


def test_reconciliation_waits_for_the_chain_before_locking_the_row(
    factory: sessionmaker[Session],
) -> None:
    comm = sending(factory)
    failures: list[BaseException] = []

    class AtTwilio:
        from_number = "+15005550006"

        def find_sent(self, to: str, *, since: object) -> list[ProviderMessage]:
            return [ProviderMessage("SM" + "3" * 32, to, comm.body, "sent", utcnow(), None)]

    def reconciliation() -> None:
        try:
            reconcile(factory, AtTwilio(), comm.id)  # type: ignore[arg-type]
        except BaseException as exc:
            failures.append(exc)

    worker_records_the_send_while(factory, comm.id, threading.Thread(target=reconciliation))
    assert failures == []


def test_reading_a_thread_with_nothing_alerting_waits_for_no_writer(
    factory: sessionmaker[Session],
) -> None:
    """The writers' lock orders writers of a conversation's alerts; a read of a thread with none
    open must not queue behind a worker recording sends or a callback."""
    with factory() as session:
        reader = create_user(session, role="staff")
        client = create_client(session)
        session.commit()
    holder = factory()
    try:
        lock_shared_writes(holder)
        with factory() as session:
            session.execute(text("SET LOCAL lock_timeout = '1s'"))
            shown, _ = read_thread(
                session, client.id, user_id=reader.id, origin=RequestOrigin(), limit=20, cursor=None
            )
            session.commit()
    finally:
        holder.rollback()
        holder.close()
    assert shown == []


def test_a_callback_waits_for_the_worker_and_reads_what_it_wrote(
    factory: sessionmaker[Session],
) -> None:
    comm = sending(factory)
    sid = "SM" + "4" * 32
    marked = datetime(2030, 1, 15, 15, 0, tzinfo=UTC)  # the worker's own time of sending
    failures: list[BaseException] = []
    applied_at: list[float] = []

    def callback() -> None:
        try:
            delivered = {"MessageSid": sid, "MessageStatus": "delivered"}
            event = callback_event(StatusCallback.model_validate(delivered), comm.id)
            assert event is not None
            with factory() as session:
                apply_status_event(session, event, RequestOrigin())
                session.commit()
            applied_at.append(time.monotonic())
        except BaseException as exc:
            failures.append(exc)

    other = threading.Thread(target=callback)
    with factory() as session:
        lock_shared_writes(session)  # the worker's order: the writers' turn, then the row
        [row] = repository.get_many(session, [comm.id])
        other.start()
        other.join(timeout=1.0)  # it must be waiting for the worker
        assert applied_at == []
        row.status, row.provider_message_id, row.sent_at = "sent", sid, marked
        committed_at = time.monotonic()
        session.commit()
    other.join(timeout=10)
    assert failures == []
    assert applied_at and applied_at[0] >= committed_at
    with factory() as session:
        stored = session.get(Communication, comm.id)
        assert stored is not None
        # Read after the worker's commit: delivered, with the worker's time of sending kept.
        assert (stored.status, stored.provider_message_id) == ("delivered", sid)
        assert stored.sent_at == marked
