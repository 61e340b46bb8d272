"""Two-step sign-in: enrol an authenticator app (its QR code, then a code to confirm it), see the
recovery codes once, and get new ones. An account that must enrol is sent here by every other
page until it has."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from proirp.auth import mfa_login, second_factor
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import AppError
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, EnrollingPageUser, PageUser, field, page_router

router = page_router()
MFA = f"{PREFIX}/mfa"
WRONG_CODE = (
    "That code is not right, or was already used. Type the code your app shows now "
    "(a new one comes every 30 seconds)."
)


def _page(
    request: Request,
    user: EnrollingPageUser,
    session: SessionDep,
    settings: SettingsDep,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    enrolment = second_factor.enrolment_in_progress(
        session, user, token_id=_token_id(request), issuer=settings.practice_name
    )
    response = render(
        request,
        "mfa.html",
        user=user,
        status_code=status,
        mfa=second_factor.status(session, user, settings),
        enrolment=enrolment,
        error=error,
        must_enrol=request.state.must_enrol,
    )
    response.headers["Cache-Control"] = "no-store"  # the secret, while enrolling
    return response


def _token_id(request: Request) -> str:
    """The page's session (its enrolment is this session's alone)."""
    token_id: str = request.state.page_token.id
    return token_id


@router.get("/mfa")
def mfa_page(
    request: Request, user: EnrollingPageUser, session: SessionDep, settings: SettingsDep
) -> Response:
    return _page(request, user, session, settings)


@router.post("/mfa/enrol")
def start(
    request: Request,
    user: EnrollingPageUser,
    _form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    second_factor.start_enrolment(
        session, user, token_id=_token_id(request), origin=origin, issuer=settings.practice_name
    )
    return RedirectResponse(f"{MFA}#enrol", status_code=303)


def _codes(request: Request, user: EnrollingPageUser, codes: list[str], fresh: bool) -> Response:
    response = render(request, "mfa_codes.html", user=user, codes=codes, fresh=fresh)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/mfa/confirm")
def confirm(
    request: Request,
    user: EnrollingPageUser,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    code = field(form, "code") or ""
    try:
        codes = second_factor.confirm_enrolment(
            session, user, code, token_id=_token_id(request), origin=origin
        )
    except AppError as refused:
        error = WRONG_CODE if refused.code == "invalid_code" else refused.message
        return _page(request, user, session, settings, error=error, status=refused.status_code)
    request.state.must_enrol = False  # the page shown next has the whole menu
    return _codes(request, user, codes, fresh=True)


@router.post("/mfa/recovery-codes")
def new_recovery_codes(
    request: Request,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    code = field(form, "code") or ""
    try:
        codes = mfa_login.regenerate_with_code(
            session, user, code, origin=origin, throttle=request.app.state.login_throttle
        )
    except AppError as refused:
        # Returned, not raised: the wrong code's audit row and login count commit.
        error = WRONG_CODE if refused.code == "invalid_code" else refused.message
        return _page(request, user, session, settings, error=error, status=refused.status_code)
    return _codes(request, user, codes, fresh=False)
