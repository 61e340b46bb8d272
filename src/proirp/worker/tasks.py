"""Every module that defines tasks or periodic jobs, imported so the consumer knows them all."""

from proirp.calendars import tasks as calendar_tasks  # noqa: F401
from proirp.comms import tasks as comms_tasks  # noqa: F401
from proirp.worker import periodic  # noqa: F401
