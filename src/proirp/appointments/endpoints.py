"""/reminders/rules (admins), /clients/{id}/appointments and /appointments/{id} (any staff)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from proirp.appointments import rules, service
from proirp.appointments.schemas import (
    AppointmentAnswer,
    AppointmentList,
    AppointmentPatch,
    RulesAnswer,
    RulesPut,
)
from proirp.auth.dependencies import AdminUser, AnyStaff
from proirp.kit.deps import OriginDep, SessionDep
from proirp.kit.openapi import errors

router = APIRouter(tags=["appointments"])


@router.get("/reminders/rules", response_model=RulesAnswer, summary="Reminder rules (admins)")
def get_rules(session: SessionDep, user: AdminUser) -> RulesAnswer:
    return rules.rules_answer(session)


@router.put(
    "/reminders/rules", response_model=RulesAnswer, summary="Replace the reminder rules (admins)"
)
def put_rules(
    body: RulesPut, session: SessionDep, user: AdminUser, origin: OriginDep
) -> RulesAnswer:
    rules.put_rules(session, body, user_id=user.id, origin=origin)
    return rules.rules_answer(session)


@router.get(
    "/clients/{client_id}/appointments",
    response_model=AppointmentList,
    summary="A client's appointments and their reminders",
    responses=errors(404),
)
def client_appointments(
    client_id: str, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    found = service.client_appointments(session, client_id, user_id=user.id, origin=origin)
    return {"ok": True, "appointments": [a.model_dump(mode="json") for a in found]}


@router.patch(
    "/appointments/{appointment_id}",
    response_model=AppointmentAnswer,
    summary="Turn an appointment's reminders on or off, or mark it confirmed or scheduled",
    responses=errors(404, 409),
)
def change_appointment(
    appointment_id: str,
    body: AppointmentPatch,
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
) -> dict[str, Any]:
    changed = service.change_appointment(
        session, appointment_id, body, user_id=user.id, origin=origin
    )
    return {"ok": True, "appointment": changed.model_dump(mode="json")}
