"""Every module that defines tasks or periodic jobs, imported so the consumer knows them all."""

from proirp.worker import periodic  # noqa: F401
