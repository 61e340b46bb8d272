"""Bad input, the API: schemathesis over the live stack's /openapi.json, over real HTTP, signed in
as each role the product has (admin, clinician, front desk), every operation with generated
valid and invalid requests, then walks that chain operations by the links schemathesis infers
between them (its stateful mode). Every answer is counted: a 5xx (or no answer at all) is a
server error; an answer whose status, content type, headers or body /openapi.json does not
describe is undocumented; any other check schemathesis makes is reported beside them.

The sign-ins are kept working between operations (a fuzzed request may sign its own account out,
disable it or change its role), so every operation is tried by every role to the end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.live import LiveStack, create_user_with_token
from tests.schema_fuzz import configure, excluded_checks

from proirp.auth import totp
from proirp.auth.mfa_models import SecondFactor
from proirp.auth.models import ApiToken, User
from proirp.auth.secrets import token_digest
from proirp.kit.time import utcnow
from prove.figures import Figure, check, count
from prove.run import Run, api_urls

AREA = "Bad input"
ROLES = ("admin", "clinician", "staff")  # staff: the front desk
# An answer the document does not describe: its status, content type, headers or body.
UNDOCUMENTED = {"ST103", "ST104", "ST105", "ST106", "ST107", "ST108", "ST109", "ST110", "ST111"}
SERVER_ERROR = {"ST101", "ST102"}  # counted from the status itself
TIMEOUT = 30
WALKS_PER_RUN = 10


@dataclass(frozen=True)
class Account:
    role: str
    user_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Tally:
    """Every answer, by role and operation, and what was wrong with each."""

    operations: list[str]
    answered: Counter[tuple[str, str]] = field(default_factory=Counter)
    succeeded: Counter[tuple[str, str]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    other_failures: list[str] = field(default_factory=list)
    steps: Counter[str] = field(default_factory=Counter)
    linked_steps: Counter[str] = field(default_factory=Counter)
    runs_cut_short: Counter[str] = field(default_factory=Counter)

    def no_answer(self, role: str, case: schemathesis.Case, error: Exception) -> None:
        self.server_errors.append(f"{role} {case.operation.label}: no answer ({error!r})")

    def answer(
        self,
        account: Account,
        case: schemathesis.Case,
        response: schemathesis.Response,
        failures: list[Failure],
    ) -> None:
        key = (account.role, case.operation.label)
        self.answered[key] += 1
        if response.status_code < 400:
            self.succeeded[key] += 1
        where = f"{account.role} {case.operation.label} -> {response.status_code}"
        if response.status_code >= 500:
            self.server_errors.append(f"{where}\n  {_request(case)}")
        undocumented = [f for f in failures if f.code in UNDOCUMENTED]
        if undocumented:
            titles = "; ".join(sorted({f"{f.code} {f.title}" for f in undocumented}))
            self.undocumented.append(f"{where}: {titles}\n  {_request(case)}")
        for failure in failures:
            if failure.code not in UNDOCUMENTED | SERVER_ERROR:
                detail = " ".join(str(failure.message or "").split())[:300]  # what it changed
                self.other_failures.append(
                    f"{where}: {failure.code} {failure.title}\n  {detail}\n  {_request(case)}"
                )


def _request(case: schemathesis.Case) -> str:
    """The request, as a command that repeats it (without the account's token)."""
    try:
        return str(case.as_curl_command())
    except Exception as exc:  # a case that cannot be spelled as curl is still reported
        return f"(not shown: {type(exc).__name__})"


# Headers that frame the HTTP message itself. A generated one (`Content-Length: {`) makes a
# request HTTP cannot parse, which the HTTP server (uvicorn) refuses with a plain-text 400 before
# the API sees it: that is the server's answer, not the API's, and /openapi.json cannot describe
# it. They are left out of every request the fuzzer makes.
FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def _unframed(case: schemathesis.Case) -> schemathesis.Case:
    """`case` without generated headers that frame the HTTP message."""
    if case.headers:
        for name in [n for n in case.headers if n.lower() in FRAMING]:
            del case.headers[name]
    return case


def _failures(error: BaseException) -> list[Failure]:
    if isinstance(error, FailureGroup):
        return [f for f in error.exceptions if isinstance(f, Failure)]
    return [error] if isinstance(error, Failure) else []


def _validate(
    case: schemathesis.Case,
    response: schemathesis.Response,
    account: Account,
    url: str,
    **options: Any,
) -> list[Failure]:
    try:
        case.validate_response(
            response,
            headers=account.headers,
            excluded_checks=excluded_checks(case.operation.label),
            transport_kwargs={"base_url": url, "headers": account.headers, "timeout": TIMEOUT},
            **options,
        )
    except (Failure, FailureGroup) as error:
        return _failures(error)
    return []


def keep_signed_in(engine: Engine, accounts: list[Account]) -> None:
    """Undo what fuzzed requests did to the accounts themselves: each active, in its role, its
    token valid, and an admin with a confirmed second factor."""
    with Session(engine) as session:
        for account in accounts:
            session.execute(
                update(User)
                .where(User.id == account.user_id)
                .values(is_active=True, role=account.role)
            )
            session.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == token_digest(account.token))
                .values(revoked_at=None, expires_at=utcnow() + timedelta(days=1))
            )
            if account.role == "admin":
                factor = session.scalar(
                    select(SecondFactor).where(SecondFactor.user_id == account.user_id)
                )
                if factor is None:
                    session.add(
                        SecondFactor(
                            user_id=account.user_id,
                            totp_secret=totp.new_secret(),
                            confirmed_at=utcnow(),
                        )
                    )
                elif factor.confirmed_at is None:
                    factor.confirmed_at = utcnow()
        session.commit()


def operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    """Every operation of the document (one schemathesis cannot read is an error of its own)."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def _settings(examples: int, **extra: Any) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every answer is counted as is
        suppress_health_check=list(HealthCheck),
        **extra,
    )


def _cases(operation: schemathesis.APIOperation) -> st.SearchStrategy[schemathesis.Case]:
    """Valid requests and invalid ones (where the operation has anything to get wrong)."""
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    return st.one_of([operation.as_strategy(generation_mode=mode) for mode in modes])


def fuzz_operations(
    schema: schemathesis.BaseSchema,
    live: LiveStack,
    accounts: list[Account],
    account: Account,
    url: str,
    tally: Tally,
    *,
    examples: int,
) -> None:
    """Every operation, `examples` generated requests each, as `account`."""
    http = requests.Session()
    for operation in operations(schema):
        keep_signed_in(live.engine, accounts)

        @hypothesis.given(case=_cases(operation))
        @_settings(examples)
        def attempt(case: schemathesis.Case) -> None:
            try:
                response = _unframed(case).call(
                    base_url=url, session=http, headers=account.headers, timeout=TIMEOUT
                )
            except requests.RequestException as error:
                tally.no_answer(account.role, case, error)
                return
            tally.answer(account, case, response, _validate(case, response, account, url))

        attempt()


def walk_links(
    schema: schemathesis.BaseSchema,
    live: LiveStack,
    accounts: list[Account],
    account: Account,
    url: str,
    tally: Tally,
    *,
    scenarios: int,
    steps: int,
) -> None:
    """Schemathesis' stateful mode: `scenarios` chains of up to `steps` operations, each fed by
    the answer before it through the links it infers (a client made, then read, changed,
    messaged, deleted...)."""
    machine: Any = schema.as_state_machine()
    http = requests.Session()

    class Walk(machine):
        def setup(self) -> None:
            keep_signed_in(live.engine, accounts)

        def step(self, input: Any) -> Any:
            tally.steps[account.role] += 1
            if input.transition is not None:
                tally.linked_steps[account.role] += 1
            return super().step(input)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": url, "session": http, "headers": account.headers}

        def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
            try:
                return _unframed(case).call(timeout=TIMEOUT, **kwargs)
            except requests.RequestException as error:
                tally.no_answer(account.role, case, error)
                raise

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, *_: Any, **__: Any
        ) -> None:
            failures = _validate(case, response, account, url, recorder=self.recorder)
            tally.answer(account, case, response, failures)

    # In runs of a few walks: Hypothesis gives up on a run whose rules, fed by live answers,
    # choose differently on its replay; the walks of the other runs still count.
    size = min(scenarios, WALKS_PER_RUN)
    for _ in range(max(1, scenarios // size)):
        try:
            Walk.run(settings=_settings(size, stateful_step_count=steps))
        except requests.RequestException:
            pass  # already counted as a server error
        except hypothesis.errors.FlakyStrategyDefinition:
            tally.runs_cut_short[account.role] += 1


def _account(live: LiveStack, run: Run, role: str) -> Account:
    email = f"fuzz-{role}@quennevilleprove.example.com"
    run.used.add("email address", email)
    user_id, token = create_user_with_token(live.engine, email=email, role=role)
    run.used.add("api token", token)
    return Account(role, user_id, token)


def _exercised(tally: Tally) -> tuple[bool, str]:
    parts, everyone = [], True
    total = len(tally.operations)
    for role in ROLES:
        tried = sum(1 for op in tally.operations if tally.answered[(role, op)])
        allowed = sum(1 for op in tally.operations if tally.succeeded[(role, op)])
        everyone = everyone and tried == total
        parts.append(f"{role} {tried}/{total} ({allowed} let through)")
    return everyone, ", ".join(parts)


def _write(folder: Path, name: str, lines: list[str]) -> None:
    folder.joinpath(name).write_text("\n".join(lines) + "\n")


def prove(run: Run) -> list[Figure]:
    examples = run.size(full=20, quick=2)
    scenarios, steps = run.size(full=40, quick=10), run.size(full=10, quick=6)
    with run.stack("fuzz") as live:
        accounts = [_account(live, run, role) for role in ROLES]
        schema = schemathesis.openapi.from_url(f"{live.app_url}/openapi.json")
        configure(schema)
        tally = Tally(operations=[operation.label for operation in operations(schema)])
        urls = api_urls(live)
        for n, account in enumerate(accounts):
            url = urls[n % len(urls)]  # the roles spread over the API processes
            fuzz_operations(schema, live, accounts, account, url, tally, examples=examples)
        for n, account in enumerate(accounts):
            url = urls[n % len(urls)]
            walk_links(
                schema, live, accounts, account, url, tally, scenarios=scenarios, steps=steps
            )
    folder = run.folder / "fuzz"
    folder.mkdir(exist_ok=True)
    _write(folder, "server-errors.txt", tally.server_errors)
    _write(folder, "undocumented.txt", tally.undocumented)
    _write(folder, "other-failures.txt", tally.other_failures)
    for line in [*tally.server_errors, *tally.undocumented, *tally.other_failures][:10]:
        print(f"  {line}", flush=True)
    everyone, exercised = _exercised(tally)
    answers = sum(tally.answered.values())
    cut = sum(tally.runs_cut_short.values())
    walked = ", ".join(
        f"{role} {tally.linked_steps[role]} of {tally.steps[role]}" for role in ROLES
    )
    for kind, times in Counter(
        line.splitlines()[0].split(": ", 1)[1] for line in tally.other_failures
    ).items():
        print(f"  other check failed {times}x: {kind}", flush=True)
    return [
        count(
            AREA, "API: server errors (5xx or no answer) under fuzzing", len(tally.server_errors)
        ),
        count(AREA, "API: answers /openapi.json does not describe", len(tally.undocumented)),
        check(AREA, "API: every operation tried by every role", everyone, detail=exercised),
        check(
            AREA,
            "API: stateful steps fed by an earlier answer",
            all(tally.linked_steps[role] for role in ROLES),
            detail=f"{walked} ({answers:,} answers in all; runs of walks cut short: {cut})",
        ),
        count(
            AREA,
            "API: schemathesis' other checks failed",
            len(tally.other_failures),
        ),
    ]
