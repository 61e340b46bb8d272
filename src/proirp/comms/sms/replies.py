"""Replies that mean something to a layer above comms (a reminder's C or R): that layer
registers a handler at start-up, and `inbound.py` offers it each inbound text. Comms imports
nothing of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from proirp.audit.service import RequestOrigin
from proirp.comms.sms.keywords import Keyword


@dataclass(frozen=True)
class InboundReply:
    """An inbound text as a handler sees it: the word (trimmed, upper-case), the Twilio
    keyword it also is (None for most), and the clients with the sender's number."""

    word: str
    keyword: Keyword | None
    client_ids: tuple[str, ...]
    origin: RequestOrigin


# Returns the answer to send back, or None when the reply is not the handler's.
ReplyHandler = Callable[[Session, InboundReply], str | None]
_handlers: list[ReplyHandler] = []


def register_reply_handler(handler: ReplyHandler) -> None:
    if handler not in _handlers:
        _handlers.append(handler)


def answer_reply(session: Session, reply: InboundReply) -> str | None:
    """The first registered handler's answer to `reply`, or None if none took it."""
    for handler in _handlers:
        answer = handler(session, reply)
        if answer is not None:
            return answer
    return None
