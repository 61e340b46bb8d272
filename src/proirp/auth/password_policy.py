"""What a new password must be: long enough, and hard to guess by zxcvbn's estimate (common
passwords, keyboard rows, repeats, sequences, dates and the user's own email all count against it).
"""

from __future__ import annotations

import re
import threading

from zxcvbn import zxcvbn

from proirp.kit.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # what POST /auth/login accepts
# zxcvbn's scale is 0-4; 3 is "safely unguessable" against an online attack and slows an offline
# one against argon2 hashes by years.
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching grows fast with the length); the first 72 characters
# of a good passphrase are a good passphrase.
_JUDGED_LENGTH = 72
# zxcvbn keeps the user's own words in a module-level dictionary while it runs.
_estimator_lock = threading.Lock()


def check_new_password(password: str, *, email: str) -> None:
    """Raise ValidationFailed (422, field `password`) if `password` may not be set for `email`.

    The reasons name what is wrong with it and never repeat it.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        _refuse("must be", f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        _refuse("must be", f"at most {MAX_PASSWORD_LENGTH} characters")
    own_words = [email, *re.split(r"[@._+-]+", email)]
    with _estimator_lock:
        estimate = zxcvbn(password[:_JUDGED_LENGTH], user_inputs=own_words)
    if estimate["score"] >= MIN_SCORE:
        return
    feedback = estimate["feedback"]
    advice = [feedback["warning"], *feedback["suggestions"]]
    because = " ".join(line for line in advice if line) or "Add another word or two."
    _refuse("is", f"too easy to guess: {because}")


def _refuse(verb: str, reason: str) -> None:
    raise ValidationFailed(f"password {verb} {reason}", fields={"password": reason})
