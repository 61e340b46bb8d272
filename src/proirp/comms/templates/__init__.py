"""Message templates: their API, rendering (sandboxed Jinja2) and variables with their PHI class."""
