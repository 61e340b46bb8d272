"""How a mail/send body is read and checked, with SendGrid's messages and field paths.

Every problem found is reported at once, as SendGrid does. Where the live API quotes an address
back (a duplicate recipient), the sandbox gives the field path only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from email_validator import EmailNotValidError, validate_email

from proirp.sandbox.sendgrid.errors import FieldError, SendGridApiError, bad_request
from proirp.sandbox.sendgrid.mail import (
    MODELLED_FIELDS,
    PERSONALIZATION_FIELDS,
    REQUEST_FIELDS,
    Address,
    MailSend,
    Personalization,
)

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_ADDRESS_LENGTH = 320
MAX_SCHEDULE_SECONDS = 72 * 3600

RESERVED_HEADERS = frozenset(
    {
        "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
        "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
    }
)  # fmt: skip

FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the "
    'email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)
CONTENT_REQUIRED = (
    "Unless a valid template_id is provided, the content parameter is required. There must be at "
    "least one defined content block. We typically suggest both text/plain and text/html blocks "
    "are included, but only one block is required."
)
SUBJECT_REQUIRED = (
    "The subject is required. You can get around this requirement if you use a template with a "
    "subject defined or if every personalization has a subject defined."
)
CONTENT_ORDER = (
    "Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent in your "
    "email: text/plain needs to be first, followed by text/html, followed by any other content."
)


def is_valid_address(email: object) -> bool:
    """An address SendGrid would take: one @, a dotted domain, no display name or quoting."""
    if not isinstance(email, str) or not email or len(email) > MAX_ADDRESS_LENGTH:
        return False
    try:
        # test_environment: `.test` domains (the sandbox's own sender) are fine, and no DNS.
        validate_email(email, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def parse_mail_send(
    body: object, *, template_exists: Callable[[str], bool], now: float
) -> MailSend:
    """Validate a mail/send body; raise SendGrid's 400 listing every problem."""
    reader = _Reader(template_exists=template_exists, now=now)
    mail = reader.read(body)
    if reader.errors or mail is None:
        raise SendGridApiError(400, reader.errors or [FieldError("Bad Request")])
    return mail


class _Reader:
    """Reads one request, collecting errors instead of stopping at the first."""

    def __init__(self, *, template_exists: Callable[[str], bool], now: float) -> None:
        self.errors: list[FieldError] = []
        self._template_exists = template_exists
        self._now = now

    def fail(self, message: str, field: str | None = None, anchor: str | None = None) -> None:
        self.errors.append(bad_request(message, field, anchor))

    def read(self, body: object) -> MailSend | None:
        if not isinstance(body, dict):
            return None
        for name in sorted(set(body) - REQUEST_FIELDS):
            # SendGrid ignores unknown names; the sandbox refuses them so a misspelt field in the
            # product fails a test instead of being silently dropped in production.
            self.fail(f"The sandbox does not know the field {name}.", name)
        personalizations = self.personalizations(body.get("personalizations"))
        from_ = self.sender(body.get("from"))
        reply_to = self.optional_address(body.get("reply_to"), "reply_to", "message.reply_to")
        template_id = self.template_id(body.get("template_id"))
        subject = self.subject(body.get("subject"), "subject", "message.subject")
        text, html = self.content(body.get("content"), required=template_id is None)
        lacking = not personalizations or any(p.subject is None for p in personalizations)
        if template_id is None and subject is None and lacking:
            self.fail(SUBJECT_REQUIRED, "subject", "message.subject")
        mail = MailSend(
            personalizations=personalizations,
            from_=from_ or Address(""),
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            template_id=template_id,
            headers=self.headers(body.get("headers"), "headers", "message.headers"),
            custom_args=self.custom_args(body.get("custom_args"), "custom_args"),
            categories=self.categories(body.get("categories")),
            send_at=self.send_at(body.get("send_at"), "send_at", "message.send_at"),
            asm_group_id=self.asm_group_id(body.get("asm")),
            ignored_fields=tuple(sorted((set(body) & REQUEST_FIELDS) - MODELLED_FIELDS)),
        )
        self.check_recipients(personalizations)
        return mail

    # --- personalizations ---------------------------------------------------------------

    def personalizations(self, value: object) -> tuple[Personalization, ...]:
        anchor = "message.personalizations"
        if not isinstance(value, list) or not value:
            self.fail(
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
                "-Personalizations-Errors",
            )
            return ()
        if len(value) > MAX_PERSONALIZATIONS:
            self.fail(
                f"The personalization block is limited to {MAX_PERSONALIZATIONS} "
                f"personalizations per API request. You have provided {len(value)} "
                "personalizations. Please consider splitting this into multiple requests and "
                "resending your request.",
                "personalizations",
                anchor,
            )
            return ()
        return tuple(
            self.personalization(item, f"personalizations.{i}") for i, item in enumerate(value)
        )

    def personalization(self, value: object, path: str) -> Personalization:
        item: dict[str, Any] = value if isinstance(value, dict) else {}
        for name in sorted(set(item) - PERSONALIZATION_FIELDS):
            self.fail(f"The sandbox does not know the field {name}.", f"{path}.{name}")
        to = item.get("to")
        if not isinstance(to, list) or not to:
            self.fail(
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address.",
                f"{path}.to",
                "message.personalizations.to",
            )
        data = item.get("dynamic_template_data", {})
        if not isinstance(data, dict):
            self.fail(
                "The dynamic_template_data must be an object.", f"{path}.dynamic_template_data"
            )
            data = {}
        help_for = "message.personalizations"
        return Personalization(
            to=self.recipients(to, f"{path}.to", "To"),
            cc=self.recipients(item.get("cc"), f"{path}.cc", "CC"),
            bcc=self.recipients(item.get("bcc"), f"{path}.bcc", "BCC"),
            from_=self.optional_address(item.get("from"), f"{path}.from", "message.from"),
            subject=self.subject(item.get("subject"), f"{path}.subject", f"{help_for}.subject"),
            headers=self.headers(item.get("headers"), f"{path}.headers", f"{help_for}.headers"),
            substitutions=self.substitutions(item.get("substitutions"), f"{path}.substitutions"),
            dynamic_template_data=data,
            custom_args=self.custom_args(item.get("custom_args"), f"{path}.custom_args"),
            send_at=self.send_at(item.get("send_at"), f"{path}.send_at", f"{help_for}.send_at"),
        )

    def recipients(self, value: object, path: str, label: str) -> tuple[Address, ...]:
        if value is None or not isinstance(value, list):
            return ()
        kind = path.rsplit(".", 1)[-1]
        addresses = []
        for index, entry in enumerate(value):
            email = entry.get("email") if isinstance(entry, dict) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(email, str) and len(email) > MAX_ADDRESS_LENGTH:
                self.fail(
                    f"The {label} email exceeds the maximum total length of 320 characters",
                    f"{path}.{index}.email",
                    f"message.personalizations.{kind}",
                )
            elif not is_valid_address(email):
                self.fail(
                    "Does not contain a valid address.",
                    f"{path}.{index}.email",
                    f"message.personalizations.{kind}",
                )
            else:
                assert isinstance(email, str)
                addresses.append(Address(email, name if isinstance(name, str) else None))
        return tuple(addresses)

    def check_recipients(self, personalizations: tuple[Personalization, ...]) -> None:
        total = sum(len(p.recipients()) for p in personalizations)
        if total > MAX_RECIPIENTS:
            self.fail(
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
                "personalizations",
                "message.personalizations",
            )
        seen: set[str] = set()
        for number, personalization in enumerate(personalizations):
            for kind, index, address in personalization.recipients():
                key = address.email.lower()
                if key in seen:
                    path = f"personalizations.{number}.{kind}.{index}.email"
                    self.fail(
                        "Each email address in the personalization block should be unique "
                        "between to, cc, and bcc. We found the first duplicate instance in the "
                        f"{path} field.",
                        path,
                        "message.personalizations",
                    )
                    return
                seen.add(key)

    # --- sender, reply-to ---------------------------------------------------------------

    def sender(self, value: object) -> Address | None:
        email = value.get("email") if isinstance(value, dict) else None
        if email is None or email == "":
            self.fail(FROM_REQUIRED, "from.email", "message.from")
            return None
        return self.optional_address(value, "from", "message.from")

    def optional_address(self, value: object, path: str, anchor: str) -> Address | None:
        if value is None:
            return None
        email = value.get("email") if isinstance(value, dict) else None
        if not is_valid_address(email):
            label = path.rsplit(".", 1)[-1]
            self.fail(
                f"The {label} email does not contain a valid address.", f"{path}.email", anchor
            )
            return None
        assert isinstance(value, dict) and isinstance(email, str)
        name = value.get("name")
        return Address(email, name if isinstance(name, str) else None)

    # --- subject, content, template -----------------------------------------------------

    def subject(self, value: object, path: str, anchor: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.fail(
                "The subject of your email must be a string at least one character in length.",
                path,
                anchor,
            )
            return None
        return value

    def content(self, value: object, *, required: bool) -> tuple[str | None, str | None]:
        if value is None or value == []:
            if required:
                self.fail(CONTENT_REQUIRED, "content", "message.content")
            return None, None
        if not isinstance(value, list):
            self.fail(CONTENT_REQUIRED, "content", "message.content")
            return None, None
        bodies: dict[str, str] = {}
        order: list[str] = []
        for index, block in enumerate(value):
            kind = block.get("type") if isinstance(block, dict) else None
            text = block.get("value") if isinstance(block, dict) else None
            if not isinstance(kind, str) or not kind:
                self.fail(
                    "Your content type must be a string with length of at least one character.",
                    f"content.{index}.type",
                    "message.content.type",
                )
            elif not isinstance(text, str) or not text:
                self.fail(
                    "The content value must be a string at least one character in length.",
                    f"content.{index}.value",
                    "message.content.value",
                )
            elif kind in bodies:
                self.fail(
                    "If present, text/plain and text/html may only be provided once.", "content"
                )
            else:
                bodies[kind] = text
                order.append(kind)
        known = [kind for kind in order if kind in ("text/plain", "text/html")]
        if known and order[: len(known)] != sorted(known, key=("text/plain", "text/html").index):
            self.fail(CONTENT_ORDER, "content", "message.content.value")
        return bodies.get("text/plain"), bodies.get("text/html")

    def template_id(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail("The template_id must be a string.", "template_id", "message.template_id")
            return None
        if not self._template_exists(value):
            self.fail(
                "The template_id is not a valid template ID.", "template_id", "message.template_id"
            )
            return None
        return value

    # --- headers, arguments, categories, schedule ---------------------------------------

    def string_map(self, value: object, message: str, path: str, anchor: str) -> dict[str, str]:
        """An object whose values are all strings (headers, custom_args, substitutions)."""
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail(message, path, anchor)
            return {}
        return dict(value)

    def headers(self, value: object, path: str, anchor: str) -> dict[str, str]:
        headers = self.string_map(value, "The header values must be strings.", path, anchor)
        for name in headers:
            if not name or not name.isascii() or any(char.isspace() for char in name):
                message = "Header keys cannot contain non-ASCII characters and empty spaces."
                self.fail(message, path, anchor)
            elif name.lower() in RESERVED_HEADERS:
                self.fail("Header can not be one of the reserved keys.", path, anchor)
        return headers

    def custom_args(self, value: object, path: str) -> dict[str, str]:
        anchor = "message.personalizations.custom_args" if "." in path else "message.custom_args"
        message = "All values of custom arguments object must be strings"
        return self.string_map(value, message, path, anchor)

    def substitutions(self, value: object, path: str) -> dict[str, str]:
        message = (
            "The substitution values must be an object of key/value pairs, where the values are "
            "all strings."
        )
        return self.string_map(value, message, path, "message.personalizations.substitutions")

    def categories(self, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        anchor = "message.categories"
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("Categories must be an array of strings.", "categories", anchor)
            return ()
        if len(value) > MAX_CATEGORIES:
            self.fail(
                f"There is a limit of {MAX_CATEGORIES} categories for each email that is sent. "
                f"You provided {len(value)} categories.",
                "categories",
                anchor,
            )
        if any(len(v) > MAX_CATEGORY_LENGTH for v in value):
            self.fail("Each category must not be longer than 255 characters.", "categories", anchor)
        if not all(v.isascii() for v in value):
            self.fail("Categories can not contain non-ASCII characters.", "categories", anchor)
        if len(set(value)) != len(value):
            self.fail("The categories must be a unique list.", "categories", anchor)
        return tuple(value)

    def send_at(self, value: object, path: str, anchor: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(
                "The send_at parameter is expecting a Unix timestamp as an integer. We will send "
                "immediately if you include a send_at timestamp that is in the past.",
                path,
                anchor,
            )
            return None
        if value > self._now + MAX_SCHEDULE_SECONDS:
            self.fail("Scheduling more than 72 hours in advance is forbidden.", path, anchor)
        return value

    def asm_group_id(self, value: object) -> int | None:
        if value is None:
            return None
        group_id = value.get("group_id") if isinstance(value, dict) else None
        if not isinstance(group_id, int) or isinstance(group_id, bool):
            self.fail(
                "The ASM group ID must be an integer.", "asm.group_id", "message.asm.group_id"
            )
            return None
        return group_id
