"""The sandbox's start-up configuration, shared by every vendor it imitates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxConfig:
    """How the provider sandbox behaves when it starts.

    Twilio knobs (`twilio_mps`, `latency_ms`) can be changed at run time through the control
    endpoints; a reset returns them to these values.
    """

    twilio_account_sid: str
    twilio_auth_token: str
    # Messages accepted per second per sending number; None = unlimited.
    twilio_mps: float | None = None
    # Added to every API answer, to behave like a remote service.
    latency_ms: int = 0
    # Where the application under test listens, for simulated inbound messages.
    app_base_url: str | None = None
    # Pause before each status change of an outbound message (and its callback).
    callback_delay_ms: int = 50

    def __post_init__(self) -> None:
        if self.twilio_mps is not None and self.twilio_mps <= 0:
            raise ValueError("twilio_mps must be positive or None")
        if self.latency_ms < 0 or self.callback_delay_ms < 0:
            raise ValueError("latency_ms and callback_delay_ms must not be negative")
