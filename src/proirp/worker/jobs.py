"""Jobs by name: a domain registers `fn(ctx, *args)` under a name, and anyone enqueues that name.

Nothing imports another domain's tasks to send it work: `enqueue("comms.deliver_sms", comm_id)`.
`install()` (run once by `runtime.start()`) turns every registered job into a Huey task of that
name whose function receives the installed `JobContext` first.

A job queued while a request is being answered carries that request's id: while the job runs,
every log line (the job's own, and Huey's from its start to its "executed in") carries it too,
with the job's name, so an operator follows one request from the API into the work it queued.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from huey.exceptions import CancelExecution, HueyException, RetryTask
from sqlalchemy.orm import Session, sessionmaker

from proirp.config import Settings
from proirp.worker.queue import huey

F = TypeVar("F", bound=Callable[..., Any])
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What every job runs with: the settings and the database."""

    settings: Settings
    session_factory: sessionmaker[Session]


@dataclass(frozen=True)
class _Job:
    fn: Callable[..., Any]
    schedule: Callable[..., bool] | None  # a huey.crontab for periodic jobs


# The keyword a queued job carries its request's id under (its function never sees it).
_REQUEST_ID = "request_id"
_jobs: dict[str, _Job] = {}
_tasks: dict[str, Any] = {}  # name -> the Huey task wrapper, once installed
_context: JobContext | None = None


def job(name: str) -> Callable[[F], F]:
    """Register `fn(ctx, *args)` as the job `name`; `fn` is returned unchanged."""

    def register(fn: F) -> F:
        _register(name, _Job(fn, None))
        return fn

    return register


def periodic_job(schedule: Callable[..., bool], *, name: str) -> Callable[[F], F]:
    """Register `fn(ctx)` to run on `schedule` (a huey.crontab) in the worker, one at a time."""

    def register(fn: F) -> F:
        _register(name, _Job(fn, schedule))
        return fn

    return register


def enqueue(name: str, *args: Any, delay: float | None = None) -> None:
    """Send the job `name` to the queue, to run now or after `delay` seconds, with the id of
    the request being answered, if any."""
    task = _tasks.get(name)
    if task is None:
        require_known(name)
        raise RuntimeError(f"job {name!r} is not installed: runtime.start() has not run")
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    carried = {_REQUEST_ID: request_id} if isinstance(request_id, str) else {}
    if delay is None:
        task(*args, **carried)
    else:
        task.schedule(args, carried, delay=delay)


def run_job(name: str, *args: Any) -> Any:
    """Run the job `name` now, in this process, with the installed context."""
    require_known(name)
    return _jobs[name].fn(_installed(), *args)


def job_lock(name: str) -> AbstractContextManager[Any]:
    """A lock shared by every worker; entering it raises huey's TaskLockedException if held."""
    lock: AbstractContextManager[Any] = huey.lock_task(name)
    return lock


def install(ctx: JobContext) -> None:
    """Make every registered job a Huey task that runs with `ctx` (again: `ctx` replaces it)."""
    global _context
    _context = ctx
    for name, registered in _jobs.items():
        if name not in _tasks:
            _tasks[name] = _huey_task(name, registered)


def require_known(name: str) -> None:
    """Refuse a name no module registered (a typo would otherwise fail only in the worker)."""
    if name not in _jobs:
        raise LookupError(f"no job is registered as {name!r}")


def _register(name: str, registered: _Job) -> None:
    if name in _jobs:
        raise ValueError(f"a job is already registered as {name!r}")
    _jobs[name] = registered
    if _context is not None:  # registered after start-up (a late import): install it now
        _tasks[name] = _huey_task(name, registered)


def installed_context() -> JobContext:
    """The context jobs run with in this process (runtime.start() installs it)."""
    return _installed()


def _installed() -> JobContext:
    if _context is None:
        raise RuntimeError("no job context: runtime.start() has not run in this process")
    return _context


@huey.pre_execute(name="proirp.bind_job_context")
def _bind_job_context(task: Any) -> None:
    """Before a job runs: its name, and the request id it carries, on every line it logs."""
    request_id = (task.kwargs or {}).get(_REQUEST_ID)
    # Whatever an earlier job on this thread left (Huey skips the unbinding after some errors).
    structlog.contextvars.unbind_contextvars("job", _REQUEST_ID)
    structlog.contextvars.bind_contextvars(job=task.name)
    if isinstance(request_id, str):
        structlog.contextvars.bind_contextvars(request_id=request_id)


@huey.post_execute(name="proirp.unbind_job_context")
def _unbind_job_context(task: Any, task_value: Any, exc: BaseException | None) -> None:
    structlog.contextvars.unbind_contextvars("job", _REQUEST_ID)


def _huey_task(name: str, registered: _Job) -> Any:
    fn = registered.fn

    def run(*args: Any, **carried: Any) -> Any:
        # `carried` is what enqueue() added for the log (the request id), not the job's.
        try:
            return fn(_installed(), *args)
        except (HueyException, CancelExecution, RetryTask):
            raise  # Huey's own signals (a lock held, a retry), not failures
        except Exception as exc:
            # The name Huey's own line ("Unhandled exception in task <id>") lacks; never the text.
            log.error("job.failed", job=name, error_type=type(exc).__name__)
            raise

    # Huey keys a queued job by "<module>.<name>"; this is the module today's tasks had, so jobs
    # queued before an upgrade still resolve, wherever the function lives now.
    run.__module__ = f"proirp.{name.split('.')[0]}.tasks"
    run.__doc__ = fn.__doc__
    if registered.schedule is None:
        return huey.task(name=name)(run)
    locked = huey.lock_task(f"periodic:{name}")(run)
    return huey.periodic_task(registered.schedule, name=name)(locked)
