"""Webhook requests for `prove.webhooks`: genuine ones, signed as each provider signs them; the
forged, stale, tampered, malformed and random ones the product must refuse or ignore; and 10 MB
bodies sent piece by piece."""

from __future__ import annotations

import base64
import gzip
import json
import random
import select
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from proirp.config.sandbox_credentials import SANDBOX_TWILIO_ACCOUNT_SID, SANDBOX_TWILIO_AUTH_TOKEN
from proirp.sandbox.config import SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY
from proirp.sandbox.sendgrid.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

FORM = "application/x-www-form-urlencoded"
STATUS = "/webhooks/twilio/status"
INBOUND = "/webhooks/twilio/inbound"
EVENTS = "/webhooks/sendgrid/events"
GOOGLE = "/webhooks/google/calendar"
GRAPH = "/webhooks/microsoft/calendar"
LIFECYCLE = "/webhooks/microsoft/calendar/lifecycle"
HOOKS = (STATUS, INBOUND, EVENTS, GOOGLE, GRAPH, LIFECYCLE)
TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Hit:
    """One request to a webhook: `path` may carry a query."""

    kind: str
    path: str
    content: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def twilio_signature(base_url: str, path: str, params: dict[str, str], token: str) -> str:
    return str(RequestValidator(token).compute_signature(base_url + path, params))


def twilio_hit(kind: str, base_url: str, path: str, params: dict[str, str]) -> Hit:
    """Signed as Twilio signs: the public URL and the posted fields, with the auth token."""
    signature = twilio_signature(base_url, path, params, SANDBOX_TWILIO_AUTH_TOKEN)
    headers = [("Content-Type", FORM), ("X-Twilio-Signature", signature)]
    return Hit(kind, path, urlencode(params).encode(), headers)


def sendgrid_hit(kind: str, events: object, *, at: float | None = None) -> Hit:
    """Signed as SendGrid signs: ECDSA over the timestamp and the raw body."""
    body = json.dumps(events).encode()
    stamp = str(int(time.time() if at is None else at))
    headers = signed_headers(body, SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY, timestamp=stamp)
    return Hit(kind, EVENTS, body, list(headers.items()))


def sendgrid_signed_bytes(kind: str, body: bytes) -> Hit:
    headers = signed_headers(body, SANDBOX_SENDGRID_WEBHOOK_PRIVATE_KEY)
    return Hit(kind, EVENTS, body, list(headers.items()))


def status_params(message_sid: str, status: str, to: str) -> dict[str, str]:
    return {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": SANDBOX_TWILIO_ACCOUNT_SID,
        "To": to,
        "ApiVersion": "2010-04-01",
    }


def inbound_params(message_sid: str, sender: str, to: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "AccountSid": SANDBOX_TWILIO_ACCOUNT_SID,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def _without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    lowered = {name.lower() for name in names}
    return [(k, v) for k, v in headers if k.lower() not in lowered]


def _with(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    return [*_without(headers, name), (name, value)]


def forged_twilio(
    base_url: str, path: str, params: dict[str, str], rng: random.Random
) -> list[Hit]:
    """A genuine-looking Twilio request (it names a real message, or comes from a real client),
    with every way of getting its signature wrong; then signed ones whose fields do not fit."""
    good = twilio_hit("genuine", base_url, path, params)
    body = good.content
    sig = dict(good.headers)["X-Twilio-Signature"]
    changed = {**params, "Body": "STOP"} if "Body" in params else {**params, "To": "+12025550100"}
    fewer = {k: v for k, v in params.items() if k != "To"}

    def signed_by(token: str, url: str = base_url, fields: dict[str, str] = params) -> str:
        return twilio_signature(url, path, fields, token)

    forged = [
        ("no signature", body, [("Content-Type", FORM)]),
        ("empty signature", body, [("Content-Type", FORM), ("X-Twilio-Signature", "")]),
        ("random signature", body, _with(good.headers, "X-Twilio-Signature", _b64(rng, 20))),
        ("another token", body, _with(good.headers, "X-Twilio-Signature", signed_by("0" * 32))),
        (
            "another host",
            body,
            _with(
                good.headers,
                "X-Twilio-Signature",
                signed_by(SANDBOX_TWILIO_AUTH_TOKEN, "https://attacker.example.com"),
            ),
        ),
        ("a field changed", urlencode(changed).encode(), good.headers),
        ("a field added", urlencode({**params, "ErrorCode": "30003"}).encode(), good.headers),
        ("a field removed", urlencode(fewer).encode(), good.headers),
        (
            "signature of fewer fields",
            body,
            _with(
                good.headers,
                "X-Twilio-Signature",
                signed_by(SANDBOX_TWILIO_AUTH_TOKEN, fields=fewer),
            ),
        ),
        (
            "sent as JSON",
            json.dumps(params).encode(),
            _with(good.headers, "Content-Type", "application/json"),
        ),
        ("gzip-encoded", gzip.compress(body), [*good.headers, ("Content-Encoding", "gzip")]),
        ("signature 16 KB long", body, _with(good.headers, "X-Twilio-Signature", sig * 600)),
        ("not UTF-8", body + b"&Body=%FF%FE\xff\xfe", good.headers),
        ("raw bytes", bytes(rng.randrange(256) for _ in range(2048)), good.headers),
    ]
    hits = [Hit(kind, path, content, headers) for kind, content, headers in forged]
    other = INBOUND if path.startswith(STATUS) else STATUS
    hits.append(replace(good, kind="signed for the other webhook", path=other))
    if "?" in path:
        hits.append(replace(good, kind="another query", path=path.split("?")[0] + "?ref=x"))
    if "Body" in params:  # inbound
        malformed = [
            {**params, "MessageSid": ""},
            {**params, "From": ""},
            {**params, "NumMedia": "11"},
            {**params, "NumMedia": "lots"},
            {**params, "NumSegments": "-3"},
            {**params, "Body": "B" * 10_001},
            {**params, "MessageSid": "SM" + "9" * 100},
        ]
    else:
        # (an unknown status or error code is not malformed: it is kept, as unknown or none)
        malformed = [
            {**params, "MessageStatus": "s" * 200, "SmsStatus": "s" * 200},
            {**params, "MessageSid": "SM" + "9" * 100},
        ]
    hits += [twilio_hit("signed, a field that does not fit", base_url, path, p) for p in malformed]
    return hits


def _b64(rng: random.Random, size: int) -> str:
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(size))).decode()


def _other_key_signature(body: bytes, stamp: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return dict(signed_headers(body, base64.b64encode(der).decode(), timestamp=stamp))[
        SIGNATURE_HEADER
    ]


def forged_sendgrid(events: list[dict[str, object]], rng: random.Random) -> list[Hit]:
    """A batch that names a real email, with its signature missing, wrong, for another body or
    another key, or its timestamp stale; then signed batches that are not events."""
    good = sendgrid_hit("genuine", events)
    now = int(time.time())
    stamp = dict(good.headers)[TIMESTAMP_HEADER]
    tampered = json.dumps([{**events[0], "email": "someone.else@example.com"}]).encode()

    def stamped(value: str) -> list[tuple[str, str]]:
        return _with(good.headers, TIMESTAMP_HEADER, value)

    forged = [
        (
            "no signature headers",
            good.content,
            _without(good.headers, SIGNATURE_HEADER, TIMESTAMP_HEADER),
        ),
        ("no timestamp", good.content, _without(good.headers, TIMESTAMP_HEADER)),
        ("no signature", good.content, _without(good.headers, SIGNATURE_HEADER)),
        ("timestamp not a number", good.content, stamped("soon")),
        ("timestamp of 50 digits", good.content, stamped("9" * 50)),
        (
            "timestamp changed",
            good.content,
            stamped(str(now + 1 if str(now) != stamp else now + 2)),
        ),
        ("random signature", good.content, _with(good.headers, SIGNATURE_HEADER, _b64(rng, 71))),
        ("signature not base64", good.content, _with(good.headers, SIGNATURE_HEADER, "!!*")),
        (
            "another key",
            good.content,
            _with(good.headers, SIGNATURE_HEADER, _other_key_signature(good.content, stamp)),
        ),
        ("body changed after signing", tampered, good.headers),
        (
            "gzip-encoded",
            gzip.compress(good.content),
            [*good.headers, ("Content-Encoding", "gzip")],
        ),
    ]
    hits = [Hit(kind, EVENTS, content, headers) for kind, content, headers in forged]
    hits += [
        sendgrid_hit("signed 6 minutes ago", events, at=now - 360),
        sendgrid_hit("signed a day ago", events, at=now - 86_400),
        sendgrid_hit("signed 6 minutes ahead", events, at=now + 360),
    ]
    malformed: list[object] = [
        {},
        [1, 2],
        "events",
        [{**events[0], "sg_event_id": sid("e"), "sg_message_id": "m" * 500}],
        [{**events[0], "sg_event_id": sid("e"), "event": "e" * 100}],
        [{**events[0], "sg_event_id": "x" * 500}],
    ]
    hits += [sendgrid_hit("signed, not events that fit", body) for body in malformed]
    hits += [
        sendgrid_signed_bytes("signed, not JSON", b"not json"),
        sendgrid_signed_bytes("signed, not UTF-8", b'[{"event":"\xff\xfe"}]'),
        sendgrid_signed_bytes("signed, nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
    ]
    return hits


def forged_calendar(channel: dict[str, str] | None, rng: random.Random) -> list[Hit]:
    """Google and Graph notifications naming no channel, another channel, or the real one with
    the wrong token; bodies that are not notifications."""
    real = channel or {"channel_id": sid("ch"), "resource_id": sid("res"), "number": "1"}
    google = {
        "X-Goog-Channel-ID": real["channel_id"],
        "X-Goog-Resource-ID": real["resource_id"],
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": str(int(real["number"]) + 1000),
        "X-Goog-Channel-Token": "not-the-token",
    }
    variants: list[tuple[str, dict[str, str]]] = [
        ("wrong token", google),
        ("no token", {k: v for k, v in google.items() if k != "X-Goog-Channel-Token"}),
        ("unknown channel", {**google, "X-Goog-Channel-ID": sid("ch")}),
        ("number not a number", {**google, "X-Goog-Message-Number": "-1"}),
        ("unknown state", {**google, "X-Goog-Resource-State": "deleted"}),
        ("no headers", {}),
        ("token 16 KB long", {**google, "X-Goog-Channel-Token": "t" * 16_384}),
    ]
    if channel is not None:
        variants.append(
            (
                "wrong resource",
                {
                    **google,
                    "X-Goog-Channel-Token": channel["secret"],
                    "X-Goog-Resource-ID": sid("res"),
                },
            )
        )
    hits = [Hit(f"Google: {kind}", GOOGLE, b"", list(h.items())) for kind, h in variants]
    item = {"subscriptionId": real["channel_id"], "clientState": "nope", "changeType": "updated"}
    graph: list[tuple[str, bytes]] = [
        ("not JSON", b"{value"),
        ("not a collection", b'{"value": "x"}'),
        ("empty", b'{"value": []}'),
        ("another channel's id", json.dumps({"value": [item]}).encode()),
        ("unknown subscription", json.dumps({"value": [{**item, "subscriptionId": "s"}]}).encode()),
        ("nested 100,000 deep", b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("raw bytes", bytes(rng.randrange(256) for _ in range(1024))),
    ]
    json_type = [("Content-Type", "application/json")]
    for path in (GRAPH, LIFECYCLE):
        hits += [Hit(f"Graph: {kind}", path, body, json_type) for kind, body in graph]
        hits.append(Hit("Graph: handshake too long", f"{path}?validationToken={'v' * 2000}"))
    return hits


# What random requests are made of.
_TYPES = [
    FORM,
    "application/json",
    "multipart/form-data; boundary=x",
    "text/plain",
    "",
    FORM + "; charset=utf-16",
    "application/xml",
]
_ENCODINGS = ["", "gzip", "deflate", "br", "identity", "gzip, gzip"]
_KEYS = [
    "MessageSid",
    "MessageStatus",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "ErrorCode",
    "AccountSid",
    "event",
    "email",
    "sg_event_id",
    "value",
]


def _random_text(rng: random.Random) -> str:
    pools = ["abc", "é漢字🙂", "\x00\x01\r\n", "%&=+;", "9" * 5]
    return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.choice([0, 1, 8, 300, 5000])))


def _random_body(rng: random.Random, known: dict[str, str]) -> bytes:
    shape = rng.randrange(5)
    if shape == 0:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 10, 4096])))
    if shape == 1:
        fields = {
            k: rng.choice([_random_text(rng), known.get(k, "")])
            for k in rng.sample(_KEYS, rng.randrange(1, len(_KEYS)))
        }
        return urlencode(fields).encode("utf-8", "surrogatepass")
    if shape == 2:
        value: object = {k: _random_text(rng) for k in rng.sample(_KEYS, 3)}
        return json.dumps(rng.choice([[value], {"value": [value]}, value])).encode()
    if shape == 3:
        return "".join(f"{k}={_random_text(rng)}&" for k in _KEYS).encode("utf-16")
    return b"\xff\xfe" + _random_text(rng).encode("utf-8", "surrogatepass")


def random_hits(
    rng: random.Random, count: int, known: dict[str, str], signers: list[Callable[[bytes], str]]
) -> list[Hit]:
    """`count` random requests spread over every webhook: random bodies, types, encodings and
    signature headers (none of them correct)."""
    hits = []
    for _ in range(count):
        path = rng.choice(HOOKS)
        body = _random_body(rng, known)
        headers = [
            ("Content-Type", rng.choice(_TYPES)),
            ("Content-Encoding", rng.choice(_ENCODINGS)),
        ]
        headers = [(k, v) for k, v in headers if v]
        signature = rng.choice([*signers, lambda _b: _b64(rng, 20), lambda _b: ""])(body)
        name = rng.choice(["X-Twilio-Signature", SIGNATURE_HEADER, "X-Goog-Channel-Token"])
        headers.append((name, signature))
        if rng.random() < 0.5:
            headers.append((TIMESTAMP_HEADER, rng.choice([str(int(time.time())), "0", "x", ""])))
        if rng.random() < 0.3:
            headers.append(("X-Goog-Channel-ID", known.get("channel_id", "c")))
        hits.append(Hit("random", path, body, headers))
    return hits


def stream_oversized(url: str, path: str, *, declared: bool) -> tuple[int | None, int]:
    """POST 10 MB in 64 KB pieces, watching for an answer between pieces: (the status, if
    one came, and how many bytes of the body had been sent when it came)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    length = f"Content-Length: {TEN_MB}" if declared else "Transfer-Encoding: chunked"
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {FORM}\r\n"
    sock.sendall(f"{head}{length}\r\n\r\n".encode())
    piece, sent = b"A" * 65536, 0
    try:
        while sent < TEN_MB and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece if declared else b"10000\r\n" + piece + b"\r\n")
            except OSError:
                break
            sent += len(piece)
        if sent >= TEN_MB and not declared:
            sock.sendall(b"0\r\n\r\n")
        try:
            answer = sock.recv(1024)
        except OSError:
            return None, sent
        status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/") else b""
        return (int(status) if status.isdigit() else None), sent
    finally:
        sock.close()
