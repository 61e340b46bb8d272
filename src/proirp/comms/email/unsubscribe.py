"""One-click unsubscribe (RFC 8058) for bulk email: the signed link, the headers, the footer.

The link's token is the message's id sealed by the vault (Fernet: encrypted and authenticated),
so it names no address, cannot be forged or altered, and still opens after a key rotation.
It does not expire: CAN-SPAM wants the link to keep working, and it only ever unsubscribes.
"""

from __future__ import annotations

from proirp.config import Settings
from proirp.kit.crypto import VaultError, current_vault

PATH = "/unsubscribe"
_PREFIX = "unsubscribe:"
# The placeholder SendGrid replaces with each recipient's own link (a substitution).
URL_PLACEHOLDER = "[%unsubscribe_url%]"

TEXT_FOOTER = "\n\n--\nTo stop receiving these emails, unsubscribe here: " + URL_PLACEHOLDER + "\n"
HTML_FOOTER = (
    '<p style="font-size:12px;color:#666">To stop receiving these emails, '
    f'<a href="{URL_PLACEHOLDER}">unsubscribe</a>.</p>'
)


def make_token(comm_id: str) -> str:
    return current_vault().encrypt(_PREFIX + comm_id)


def read_token(token: str) -> str | None:
    """The communication id inside a token, or None when the token is not one of ours."""
    try:
        value = current_vault().decrypt(token)
    except (VaultError, ValueError, TypeError):
        return None
    if not value.startswith(_PREFIX):
        return None
    return value[len(_PREFIX) :]


def unsubscribe_url(settings: Settings, comm_id: str) -> str:
    return f"{settings.base_url}{PATH}/{make_token(comm_id)}"


def one_click_headers(url: str) -> dict[str, str]:
    """RFC 8058: a POST to the URL unsubscribes, with no login and no further step."""
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
