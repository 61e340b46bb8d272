"""Rendering message templates in a bounded sandbox (`sandbox.py`, `limits.py`): a missing
variable is an error, each declared variable's PHI class is checked before anything renders, and
a template that fails to render, or goes past a bound, is a TemplateProblem naming its part."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import jinja2
import structlog
from jinja2 import TemplateError, meta, nodes

from proirp.comms.models import Template
from proirp.comms.templates import limits
from proirp.comms.templates.failures import render_failure, syntax_failure
from proirp.comms.templates.sandbox import BoundedEnvironment

log = structlog.get_logger(__name__)
_env = BoundedEnvironment()
# What compiling can raise besides Jinja's syntax errors: a parser nested past Python's
# recursion limit, an integer literal past Python's digit limit.
_COMPILE_ERRORS = (TemplateError, RecursionError, ValueError, OverflowError, MemoryError)


class TemplateProblem(ValueError):
    """The template cannot be used as asked; `field` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RenderFailed(TemplateProblem):
    """The template's `part` (body, subject, html) did not render; `reason` says why."""

    def __init__(self, part: str, reason: str, *, past_a_bound: bool, too_slow: bool) -> None:
        super().__init__("template_id", f"the template's {part} could not be rendered: {reason}")
        self.part = part
        self.reason = reason
        self.past_a_bound = past_a_bound
        self.too_slow = too_slow


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def declared_variables(template: Template) -> dict[str, bool]:
    """Declared variable name → whether it is PHI (undeclared PHI class counts as PHI)."""
    return {str(v["name"]): bool(v.get("phi", True)) for v in template.variables or []}


def phi_variables(template: Template) -> list[str]:
    return sorted(name for name, phi in declared_variables(template).items() if phi)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"client.first_name": "A"}` → `{"client": {"first_name": "A"}}`."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


@functools.lru_cache(maxsize=32)
def _compiled(source: str) -> jinja2.Template:
    # A campaign renders the same few sources for every recipient: compile each once.
    return _env.from_string(source)


def _bounded_render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    length = 0
    chunks = template.generate(context)
    with limits.rendering(), closing(chunks):  # type: ignore[type-var]
        for chunk in chunks:
            length += len(chunk)
            if length > limits.MAX_OUTPUT_CHARACTERS:
                raise limits.too_much_output()
            parts.append(chunk)
    return "".join(parts)


def render_text(source: str, context: Mapping[str, Any], *, part: str) -> str:
    """`source` rendered with `context` within the bounds, or RenderFailed naming `part`."""
    try:
        template = _compiled(source)
    except _COMPILE_ERRORS as exc:
        reason = f"it is not a valid template ({syntax_failure(exc)})"
        raise RenderFailed(part, reason, past_a_bound=False, too_slow=False) from None
    try:
        return _bounded_render(template, context)
    except Exception as exc:  # however a render fails, the template is what to change
        log.info("template.render_failed", part=part, kind=type(exc).__name__)
        raise RenderFailed(
            part,
            render_failure(exc),
            past_a_bound=isinstance(exc, limits.LimitExceeded),
            too_slow=isinstance(exc, limits.TimeLimitExceeded),
        ) from None


def render(template: Template, variables: Mapping[str, Any], *, part: str = "body") -> Rendered:
    """Render with `variables` (flat "client.first_name" keys or nested dicts); `part` names
    what `template.body` holds (the HTML part is rendered as a template of its own).

    Unknown variables and missing ones are errors naming the variable; nothing renders empty.
    A template that fails to render is a RenderFailed naming the part.
    """
    declared = declared_variables(template)
    given = _flatten(variables)
    for name in given:
        if name not in declared:
            raise TemplateProblem(f"variables.{name}", "is not a variable of this template")
    for name in declared:
        if name not in given:
            raise TemplateProblem(f"variables.{name}", "is required by the template")
    context = nest(given)
    body = render_text(template.body, context, part=part)
    subject = render_text(template.subject, context, part="subject") if template.subject else None
    return Rendered(subject=subject, body=body)


# Variables the practice fills in itself, each with the PHI class a template must declare it with.
KNOWN_VARIABLES: dict[str, bool] = {
    "client.first_name": True,
    "client.last_name": True,
    "client.date_of_birth": True,
    "client.email": True,
    "client.phone": True,
    "practice.name": False,
    "practice.phone": False,
    "unsubscribe_url": False,
    # An appointment reminder's (filled in by appointments/, for its own sends only).
    "appointment.start_local": True,
    "appointment.clinician": True,
}


def syntax_problem(source: str) -> str | None:
    """Why `source` is not a valid template in the sandbox, or None when it is.

    Only Jinja's own message and the line number: the answer never quotes the template text.
    """
    try:
        _compiled(source)
    except _COMPILE_ERRORS as exc:
        return f"is not a valid template: {syntax_failure(exc)}"
    return None


def sample_values(declared: Iterable[str]) -> dict[str, Any]:
    """Sample text for each declared variable (`[client.first_name]`), nested as a render
    takes it: what a template is tried with when it is saved, and previewed with."""
    return nest({name: f"[{name}]" for name in declared})


def sample_problem(source: str, declared: Iterable[str]) -> str | None:
    """Why `source` cannot be rendered, tried once with sample text for each declared variable,
    or None when it renders.

    Going past a bound is always a problem. Any other failure is one when the template uses only
    the product's own variables, which are always text; a variable the sender fills in may be a
    number or a list the sample cannot stand for, and is checked when the message is sent.
    """
    samples = sample_values(declared)
    try:
        render_text(source, samples, part="text")
    except RenderFailed as exc:
        if exc.past_a_bound or used_paths(source) <= KNOWN_VARIABLES.keys():
            return f"cannot be rendered: {exc.reason}"
    return None


def _dotted_path(node: nodes.Node) -> str | None:
    """`client.first_name` for a chain of attribute (or constant-key) lookups on a name."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            parts.append(node.name)
            return ".".join(reversed(parts))
        else:
            return None


def _collect_paths(node: nodes.Node, top_level: set[str], found: set[str]) -> None:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # `client.first_name.upper()`: the value used is client.first_name; upper is a method.
        path = _dotted_path(node.node.node)
        if path is not None:
            if path.split(".")[0] in top_level:
                found.add(path)
            for argument in (*node.args, *node.kwargs, node.dyn_args, node.dyn_kwargs):
                if argument is not None:
                    _collect_paths(argument, top_level, found)
            return
    path = _dotted_path(node)
    if path is not None:
        if path.split(".")[0] in top_level:
            found.add(path)
        return
    for child in node.iter_child_nodes():
        _collect_paths(child, top_level, found)


def used_paths(source: str) -> set[str]:
    """Full dotted paths a template reads from its context (`client.first_name`, `practice.name`).

    Names the template assigns itself (loop variables, `set`, macro arguments) are left out.
    Raises TemplateProblem when `source` does not parse; check it with `syntax_problem` first.
    """
    try:
        ast = _env.parse(source)
    except _COMPILE_ERRORS as exc:
        raise TemplateProblem("template", "the template is not valid") from exc
    top_level = set(meta.find_undeclared_variables(ast))
    found: set[str] = set()
    _collect_paths(ast, top_level, found)
    return found
