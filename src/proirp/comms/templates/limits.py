"""The bounds a template renders within, and the budget one render spends against them.

A render may make values up to a size, loop so many times, produce so much text and take so much
of its thread's CPU time. The sandbox's hooks (`sandbox.py`) call in here at every step: an
operator, a call, a filter, an attribute, a loop iteration, a piece of output. Past a bound,
the render stops with LimitExceeded, whose message says which bound in the product's words.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2.utils import Namespace

# A message is at most an email's text; anything a template makes along the way fits in that too.
MAX_OUTPUT_CHARACTERS = 1_000_000
MAX_VALUE_CHARACTERS = 1_000_000
MAX_ITEMS = 10_000  # in a list, a range, a batch
MAX_LOOP_ITERATIONS = 10_000  # all of a render's loops together
MAX_INTEGER_DIGITS = 1_000
MAX_FORMAT_WIDTH = 100  # width or precision in "%10s" / "%.2f"
# Text and items made during one render, in all: bounds memory however the values are combined.
MAX_WORK = 20_000_000
TIME_LIMIT_SECONDS = 0.5  # of the rendering thread's CPU time
_CLOCK_EVERY = 16  # steps between looks at the clock (each look is a system call)

_MAX_INTEGER_BITS = int(MAX_INTEGER_DIGITS * 3.33)
# A printf-style conversion: %[(key)][flags][width][.precision][length]type
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


class LimitExceeded(Exception):
    """A render went past one of the bounds; the message names it, never a value."""


class TimeLimitExceeded(LimitExceeded):
    """A render ran out of time: rendering the same template again is likely to, too."""


class NotRendering(Exception):
    """A sandbox hook ran outside a render: Jinja trying to work a value out while compiling.

    Jinja treats any error there as "not a constant" and leaves the work to the render."""


@dataclass
class Budget:
    """What one render has spent so far."""

    deadline: float
    steps: int = 0
    iterations: int = 0
    work: int = 0
    # The size of each collection the render made, by id (holding the value keeps the id its
    # own): a list of lists is measured once per level, not once per path through it.
    sizes: dict[int, tuple[Any, int]] = field(default_factory=dict)


_budget: ContextVar[Budget | None] = ContextVar("template_render_budget", default=None)


@contextmanager
def rendering() -> Iterator[Budget]:
    """The budget of one render, for the hooks that run inside it."""
    budget = Budget(deadline=time.thread_time() + TIME_LIMIT_SECONDS)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def step() -> Budget:
    """Count one step of the render; stop it once its time is up."""
    budget = _budget.get()
    if budget is None:
        raise NotRendering
    budget.steps += 1
    if budget.steps % _CLOCK_EVERY == 0 and time.thread_time() > budget.deadline:
        raise TimeLimitExceeded(f"it goes past the time limit of {TIME_LIMIT_SECONDS} s")
    return budget


def iterate(items: Any) -> Iterator[Any]:
    """`items`, counted against the render's loop iterations."""
    for item in items:
        budget = step()
        budget.iterations += 1
        if budget.iterations > MAX_LOOP_ITERATIONS:
            raise LimitExceeded(
                f"it goes past the limit of {MAX_LOOP_ITERATIONS:,} loop iterations"
            )
        yield item


def spend(characters: int) -> None:
    budget = step()
    budget.work += characters
    if budget.work > MAX_WORK:
        raise LimitExceeded(f"it makes more than {MAX_WORK:,} characters of values in all")


def too_much_output() -> LimitExceeded:
    return LimitExceeded(f"its output would be longer than {MAX_OUTPUT_CHARACTERS:,} characters")


def too_long() -> LimitExceeded:
    return LimitExceeded(f"it makes a value of more than {MAX_VALUE_CHARACTERS:,} characters")


def too_many_items() -> LimitExceeded:
    return LimitExceeded(f"it makes a list of more than {MAX_ITEMS:,} items")


def too_large() -> LimitExceeded:
    return LimitExceeded(f"it makes a number of more than {MAX_INTEGER_DIGITS:,} digits")


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, Mapping):
        return [part for pair in value.items() for part in pair]
    return None


def text_size(value: Any, limit: int = MAX_VALUE_CHARACTERS) -> int:
    """About how many characters `value` comes to as text (a list counts every item each time
    it holds it, and a character for each), counted only until past `limit`: a cheap bound,
    however its parts are shared."""
    budget = _budget.get()
    known = budget.sizes if budget is not None else {}
    total, pending, namespaces = 0, [value], set()
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif id(item) in known and known[id(item)][0] is item:
            total += known[id(item)][1]
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 3
        elif isinstance(item, Namespace):
            total += 1
            if id(item) not in namespaces:  # a namespace can hold itself
                namespaces.add(id(item))
                pending.append(dict(item._Namespace__attrs))
        elif (children := _children(item)) is not None:
            total += 2 + len(children)  # every item counts, an empty text too
            pending.extend(children)
        else:
            total += 1
    return total


def checked(value: Any) -> Any:
    """`value`, made by the render, if it fits the bounds; its size counts against the budget."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if value.bit_length() > _MAX_INTEGER_BITS:
            raise too_large()
        return value
    if isinstance(value, list | tuple | set | frozenset | Mapping) and len(value) > MAX_ITEMS:
        raise too_many_items()
    if isinstance(value, str | list | tuple | set | frozenset | Mapping | Namespace):
        size = text_size(value)
        if size > MAX_VALUE_CHARACTERS:
            raise too_long()
        spend(size)
        if not isinstance(value, str | Namespace):  # a namespace changes; text needs no memo
            step().sizes[id(value)] = (value, size)
    return value


def check_integer_bits(bits: int) -> None:
    if bits > _MAX_INTEGER_BITS:
        raise too_large()


def check_printf(fmt: str, values: Any) -> None:
    """Refuse a printf-style format that would make a value too long before it is made."""
    conversions = 0
    for match in _PRINTF.finditer(fmt):
        width, precision, kind = match.groups()
        if kind == "%":
            continue
        conversions += 1
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_FORMAT_WIDTH):
                raise LimitExceeded(f"it formats with a width or precision over {MAX_FORMAT_WIDTH}")
    if isinstance(values, Mapping):
        largest = max((text_size(v) for v in values.values()), default=0)
    elif isinstance(values, tuple):
        largest = max((text_size(v) for v in values), default=0)
    else:
        largest = text_size(values)
    if len(fmt) + conversions * max(largest, MAX_FORMAT_WIDTH) > MAX_VALUE_CHARACTERS:
        raise too_long()
