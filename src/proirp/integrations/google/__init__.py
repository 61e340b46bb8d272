"""Google: OAuth 2.0 and Calendar API v3 through Google's own client libraries."""
