"""The chain is signed with AUDIT_CHAIN_KEYS: recomputing it without the key is caught, keys rotate
with older rows still verifiable, and a retired key cannot rewrite what came after it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text, update

from proirp.audit.chain import canonical_row, row_hash
from proirp.audit.keys import ChainKey, ChainKeyring, generate_chain_key, install_chain_keyring
from proirp.audit.models import AuditLog
from proirp.audit.verify import EDITED
from tests.audit.conftest import ChainDatabase, all_rows, tamper, verify, write_rows
from tests.conftest import TEST_AUDIT_KEYS

CANONICAL = ("created_at", "actor_user_id", "action", "client_id", "ip", "user_agent", "details")
Sign = Callable[[str, str], str]


def _rechain(db: ChainDatabase, victim: int, sign: Sign, *, key_id: str | None = None) -> None:
    """Rewrite row `victim`'s details and recompute every hash from it on with `sign`."""
    rows = [r for r in all_rows(db) if r.id >= victim]
    statements, prev_hash = [], str(rows[0].prev_hash)
    for row in rows:
        content = {name: getattr(row, name) for name in CANONICAL}
        if row.id == victim:
            content["details"] = {"rewritten": True}
        new_hash = sign(prev_hash, canonical_row(**content))
        values = {**content, "prev_hash": prev_hash, "hash": new_hash}
        if key_id is not None:
            values["key_id"] = key_id
        statements.append(update(AuditLog).where(AuditLog.id == row.id).values(values))
        prev_hash = new_hash
    tamper(db, *statements)


def _signer(key: ChainKey) -> Sign:
    return lambda prev_hash, canonical: row_hash(key, prev_hash, canonical)


def test_rows_name_their_key_by_fingerprint_and_never_hold_it(chain_db: ChainDatabase) -> None:
    write_rows(chain_db, 2)
    current = ChainKeyring(TEST_AUDIT_KEYS).current

    assert {r.key_id for r in all_rows(chain_db)} == {current.key_id}
    with chain_db.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM audit_logs")).all())
    assert TEST_AUDIT_KEYS[0] not in dump


def test_rechaining_with_a_key_of_ones_own_is_caught(chain_db: ChainDatabase) -> None:
    ids = write_rows(chain_db)
    attacker = ChainKey.from_text(generate_chain_key())

    # Keeping the row's key id: the hash is not the configured key's.
    _rechain(chain_db, ids[1], _signer(attacker))
    report = verify(chain_db)
    assert (report.ok, report.first_bad_id, report.problem) == (False, ids[1], EDITED)

    # Naming the attacker's key: it is not one of AUDIT_CHAIN_KEYS.
    _rechain(chain_db, ids[1], _signer(attacker), key_id=attacker.key_id)
    report = verify(chain_db)
    assert (report.ok, report.first_bad_id) == (False, ids[1])
    assert report.problem == f"signed with a key that is not configured (key id {attacker.key_id})"


@pytest.fixture
def rotated(chain_db: ChainDatabase) -> tuple[ChainKeyring, list[int], list[int]]:
    """Rows signed with the old key, then (a new key put first) rows signed with the new one."""
    old_key_text = TEST_AUDIT_KEYS[0]
    install_chain_keyring(ChainKeyring([old_key_text]))
    before = write_rows(chain_db, 3)
    keyring = ChainKeyring([generate_chain_key(), old_key_text])
    install_chain_keyring(keyring)
    after = write_rows(chain_db, 3)
    return keyring, before, after


def test_after_a_rotation_old_rows_verify_with_the_old_key_listed(
    chain_db: ChainDatabase, rotated: tuple[ChainKeyring, list[int], list[int]]
) -> None:
    keyring, before, after = rotated

    rows = {r.id: r.key_id for r in all_rows(chain_db)}
    assert {rows[i] for i in before} == {keyring.keys[1].key_id}
    assert {rows[i] for i in after} == {keyring.current.key_id}
    report = verify(chain_db)
    assert (report.ok, report.rows_checked) == (True, 6)


def test_a_key_dropped_from_the_list_is_named(
    chain_db: ChainDatabase, rotated: tuple[ChainKeyring, list[int], list[int]]
) -> None:
    keyring, before, _after = rotated

    only_the_new_key = ChainKeyring([keyring.current.secret.decode()])
    report = verify(chain_db, keyring=only_the_new_key)
    assert (report.ok, report.first_bad_id) == (False, before[0])
    assert f"key id {keyring.keys[1].key_id}" in (report.problem or "")


def test_a_retired_key_cannot_rewrite_rows_signed_after_it(
    chain_db: ChainDatabase, rotated: tuple[ChainKeyring, list[int], list[int]]
) -> None:
    keyring, _before, after = rotated
    retired = keyring.keys[1]

    # Whoever holds the retired key signs a rewritten row, and everything after, with it.
    _rechain(chain_db, after[1], _signer(retired), key_id=retired.key_id)

    report = verify(chain_db)
    assert (report.ok, report.first_bad_id) == (False, after[1])
    assert report.problem == (
        f"signed with key {retired.key_id}, older than the key of the row before it "
        "(a retired key was used after its successor)"
    )
