"""Rendering message templates: a sandboxed Jinja2 environment where a missing variable is an
error, and where each declared variable's PHI class is checked before anything renders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from proirp.comms.models import Template

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


class TemplateProblem(ValueError):
    """The template cannot be used as asked; `field` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def declared_variables(template: Template) -> dict[str, bool]:
    """Declared variable name → whether it is PHI (undeclared PHI class counts as PHI)."""
    return {str(v["name"]): bool(v.get("phi", True)) for v in template.variables or []}


def used_variables(source: str) -> set[str]:
    """Top-level names a template source refers to (`client` for `{{ client.first_name }}`)."""
    try:
        return set(meta.find_undeclared_variables(_env.parse(source)))
    except TemplateError as exc:
        raise TemplateProblem("template_id", "the template is not valid") from exc


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


def render(template: Template, variables: Mapping[str, Any]) -> Rendered:
    """Render with `variables` (flat "client.first_name" keys or nested dicts).

    Unknown variables and missing ones are errors naming the variable; nothing renders empty.
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
    try:
        body = _env.from_string(template.body).render(context)
        subject = _env.from_string(template.subject).render(context) if template.subject else None
    except UndefinedError as exc:
        raise TemplateProblem(
            "variables", f"the template uses an undeclared variable ({exc})"
        ) from exc
    except TemplateError as exc:
        raise TemplateProblem("template_id", "the template could not be rendered") from exc
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
}


def syntax_problem(source: str) -> str | None:
    """Why `source` is not a valid template in the sandbox, or None when it is.

    Only Jinja's own message and the line number: the answer never quotes the template text.
    """
    try:
        _env.compile(_env.parse(source))
    except TemplateSyntaxError as exc:
        message = " ".join((exc.message or "syntax error").split()).rstrip(".")
        return f"is not a valid template: {message}, line {exc.lineno}"
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
    except TemplateError as exc:
        raise TemplateProblem("template", "the template is not valid") from exc
    top_level = set(meta.find_undeclared_variables(ast))
    found: set[str] = set()
    _collect_paths(ast, top_level, found)
    return found
