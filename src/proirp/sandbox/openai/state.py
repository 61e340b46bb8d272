"""OpenAISandbox: the key the OpenAI imitation accepts (as a bearer token), its knobs and its
counters. Nothing is stored beyond those: the imitated routes only read (the models list)."""

from __future__ import annotations

from proirp.sandbox.keyed import KeyedSandbox
from proirp.sandbox.keys import same_key
from proirp.sandbox.openai.errors import OpenAIApiError, invalid_key, missing_key, server_fault


class OpenAISandbox(KeyedSandbox):
    """State and behaviour behind the OpenAI routes (one instance per sandbox)."""

    def authenticate(self, authorization: str | None) -> None:
        """Check the bearer API key; raise OpenAI's 401 (the wrong key masked) otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise missing_key()
        if not same_key(token, self.config.openai_api_key):
            raise invalid_key(token)

    def server_fault(self, status: int) -> OpenAIApiError:
        return server_fault(status)
