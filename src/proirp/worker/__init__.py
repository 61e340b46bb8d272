"""Background work: the Huey queue, jobs sent after commit, periodic jobs."""
