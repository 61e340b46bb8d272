"""Fixtures for the client tests: signed-in staff, committed so a refused request keeps them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.factories import Staff, create_staff


@pytest.fixture
def staff(db: Session) -> Staff:
    member = create_staff(db, role="staff")
    # A refused request rolls the shared session back; committing keeps the set-up out of that.
    db.commit()
    return member


@pytest.fixture
def admin(db: Session) -> Staff:
    member = create_staff(db, role="admin")
    db.commit()
    return member
