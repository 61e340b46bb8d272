"""The filters a template can use: Jinja's own, each a counted step, with its arguments and its
result held to the bounds, and those that can multiply their input checked before they run.

Left out: `wordwrap` and `urlize` (slow on long text, in one step the budget cannot interrupt)
and `pprint` (a debugging aid). A template that names them does not compile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from jinja2.environment import Environment
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.utils import _PassArg

from proirp.comms.templates import limits

LEFT_OUT = frozenset({"wordwrap", "urlize", "pprint"})

Rest = tuple[Any, ...]
Kw = dict[str, Any]
Arguments = tuple[Any, Rest, Kw]  # the value filtered, the other arguments, the keywords
Check = Callable[[Environment, Any, Rest, Kw], Arguments]


def _argument(rest: Rest, kwargs: Kw, index: int, name: str) -> Any:
    return rest[index] if len(rest) > index else kwargs.get(name)


def _check_center(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    width = _argument(rest, kw, 0, "width")
    if isinstance(width, int) and width > limits.MAX_VALUE_CHARACTERS:
        raise limits.too_long()
    return value, rest, kw


def _check_indent(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    width = _argument(rest, kw, 0, "width")
    indent = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
    text = str(value)
    if len(text) + (text.count("\n") + 2) * indent > limits.MAX_VALUE_CHARACTERS:
        raise limits.too_long()
    return value, rest, kw


def _check_join(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    items = list(value)
    if len(items) > limits.MAX_ITEMS:
        raise limits.too_many_items()
    attribute = _argument(rest, kw, 1, "attribute")
    if attribute is not None:
        items = [make_attrgetter(env, attribute)(item) for item in items]
    separator = _argument(rest, kw, 0, "d")
    separator = "" if separator is None else separator
    joined = sum(limits.text_size(item) for item in items)
    if joined + len(str(separator)) * max(0, len(items) - 1) > limits.MAX_VALUE_CHARACTERS:
        raise limits.too_long()
    return items, (separator,), {}


def _check_replace(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    text = str(value)
    old, new = str(_argument(rest, kw, 0, "old")), str(_argument(rest, kw, 1, "new"))
    count = _argument(rest, kw, 2, "count")
    times = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    if len(text) + times * (len(new) - len(old)) > limits.MAX_VALUE_CHARACTERS:
        raise limits.too_long()
    return value, rest, kw


def _check_format(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    limits.check_printf(str(value), kw or rest)
    return value, rest, kw


def _check_groups(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    """`batch(n, fill)` and `slice(n, fill)`: n lists, or lists of n, padded with `fill`."""
    count = rest[0] if rest else kw.get("linecount", kw.get("slices"))
    fill = _argument(rest, kw, 1, "fill_with")
    if isinstance(count, int):
        if count > limits.MAX_ITEMS:
            raise limits.too_many_items()
        if fill is not None and limits.text_size(fill) * count > limits.MAX_VALUE_CHARACTERS:
            raise limits.too_long()
    return value, rest, kw


def _check_sum(env: Environment, value: Any, rest: Rest, kw: Kw) -> Arguments:
    start = _argument(rest, kw, 1, "start")
    if start is not None and not isinstance(start, int | float):
        # Adding lists one to another takes time that grows with the square of their length.
        raise TypeError("the sum filter adds numbers only")
    return value, rest, kw


CHECKS: dict[str, Check] = {
    "center": _check_center,
    "indent": _check_indent,
    "join": _check_join,
    "replace": _check_replace,
    "format": _check_format,
    "batch": _check_groups,
    "slice": _check_groups,
    "sum": _check_sum,
}


def _bounded(env: Environment, name: str, filter_: Callable[..., Any]) -> Callable[..., Any]:
    passes = 1 if _PassArg.from_obj(filter_) is not None else 0  # context or environment first
    check = CHECKS.get(name)

    @functools.wraps(filter_)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        limits.step()
        passed, value, rest = args[:passes], args[passes], args[passes + 1 :]
        if isinstance(value, Iterator):  # `map`, `select`, `batch`…: taken up to the item limit
            value = list(islice(value, limits.MAX_ITEMS + 1))
            if len(value) > limits.MAX_ITEMS:
                raise limits.too_many_items()
        for argument in (value, *rest, *kwargs.values()):
            if limits.text_size(argument) > limits.MAX_VALUE_CHARACTERS:
                raise limits.too_long()
        if check is not None:
            value, rest, kwargs = check(env, value, rest, kwargs)
        return limits.checked(filter_(*passed, value, *rest, **kwargs))

    return bounded


def bounded_filters(env: Environment) -> dict[str, Callable[..., Any]]:
    """Jinja's filters, bounded, without those left out."""
    return {name: _bounded(env, name, f) for name, f in FILTERS.items() if name not in LEFT_OUT}
