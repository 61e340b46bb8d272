"""The staff web UI: server-rendered pages over the same services as the API, under /app.

`routing.py` holds what every page shares (sign-in, roles, CSRF on forms, errors as pages),
`rendering.py` the templates and the pages' Content-Security-Policy, `pages/` one module per
page, `templates/` and `static/` what the browser receives. No third-party front-end code.
"""
