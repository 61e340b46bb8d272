"""The Jinja2 environment templates render in: Jinja's sandbox, bounded.

Jinja's SandboxedEnvironment stops a template from reaching Python's internals, but not from
computing `10**(2*10**6)`, looping a billion times or making a gigabyte of text. Here:

- nothing is worked out while compiling: every operator goes through `call_binop`, and the code
  generator leaves output, filters and literals to the render (Jinja would otherwise fold
  constants at compile time, outside any bound);
- every operator, call, filter, attribute, literal, concatenation, loop iteration and piece of
  output is a step of the render's budget (`limits.py`), checked before or after it runs;
- text, lists and dicts offer only the methods a message needs, none that multiplies its
  input; the filters are those of `filters.py`; `range` is short; templates cannot include,
  import or extend others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment

from proirp.comms.templates import limits
from proirp.comms.templates.filters import bounded_filters

# Methods of text that make nothing longer than the text itself.
TEXT_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "isalnum", "isalpha",
        "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
        "lower", "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rpartition",
        "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "upper",
    }
)  # fmt: skip
LIST_METHODS = frozenset({"count", "index"})
DICT_METHODS = frozenset({"get", "items", "keys", "values"})


def _amplifies(operator_: str, left: Any, right: Any) -> None:
    """Refuse, before it is computed, an operation whose result would go past a bound."""
    if operator_ == "**" and type(left) is int and type(right) is int and right > 0:
        if abs(left) > 1:
            limits.check_integer_bits(abs(left).bit_length() * min(right, 1 << 40))
    elif operator_ == "*":
        if type(left) is int and type(right) is int:
            limits.check_integer_bits(left.bit_length() + right.bit_length())
        elif isinstance(right, str | list | tuple) and type(left) is int:
            _amplifies("*", right, left)
        elif isinstance(left, str | list | tuple) and type(right) is int and right > 0:
            if not isinstance(left, str) and len(left) * right > limits.MAX_ITEMS:
                raise limits.too_many_items()
            if limits.text_size(left) * right > limits.MAX_VALUE_CHARACTERS:
                raise limits.too_long()
    elif operator_ == "+" and isinstance(left, str | list | tuple):
        if limits.text_size(left) + limits.text_size(right) > limits.MAX_VALUE_CHARACTERS:
            raise limits.too_long()
    elif operator_ == "%" and isinstance(left, str):
        limits.check_printf(left, right)


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with every value left to the render, where the budget applies."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counted = nodes.Call(
            nodes.EnvironmentAttribute("loop_items"),
            [node.iter],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        loop = nodes.For(
            node.target,
            counted,
            node.body,
            node.else_,
            node.test,
            node.recursive,
            lineno=node.lineno,
        )
        super().visit_For(loop, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined_text((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("), context.eval_ctx)")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if isinstance(node.arg, nodes.Slice):  # `text[1:]` copies, without any other hook
            self._checked_value(
                lambda: super(BoundedCodeGenerator, self).visit_Getitem(node, frame)
            )
            return
        super().visit_Getitem(node, frame)

    def _checked_value(self, visit: Callable[[], None]) -> None:
        self.write("environment.made(")
        visit()
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._checked_value(lambda: super(BoundedCodeGenerator, self).visit_List(node, frame))

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._checked_value(lambda: super(BoundedCodeGenerator, self).visit_Dict(node, frame))

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment's target, not a value
            super().visit_Tuple(node, frame)
            return
        self._checked_value(lambda: super(BoundedCodeGenerator, self).visit_Tuple(node, frame))

    def _no_other_templates(self, node: nodes.Node, frame: Frame) -> NoReturn:
        self.fail("a template cannot include, import or extend another", node.lineno)

    visit_Extends = _no_other_templates
    visit_Include = _no_other_templates
    visit_Import = _no_other_templates
    visit_FromImport = _no_other_templates


class BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with every step of a render counted and bounded (see `limits.py`)."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            optimized=False,
            finalize=self._output,
        )
        self.filters = bounded_filters(self)
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range

    # -- values the render makes -----------------------------------------------------------------

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        limits.step()
        _amplifies(operator, left, right)
        return limits.checked(self.binop_table[operator](left, right))

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        limits.step()
        return limits.checked(self.unop_table[operator](arg))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.step()
        if isinstance(__obj, LoopContext) and args:  # `loop(children)` in a recursive loop
            args = (__self.loop_items(args[0]), *args[1:])
        result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        return limits.checked(result)

    def made(self, value: Any) -> Any:
        """A list, tuple or dict written in the template, or a slice of a value."""
        return limits.checked(value)

    def joined_text(self, parts: tuple[Any, ...], eval_ctx: EvalContext) -> str:
        """`a ~ b`: refused before it is joined if the result would be too long."""
        limits.step()
        if sum(limits.text_size(part) for part in parts) > limits.MAX_VALUE_CHARACTERS:
            raise limits.too_long()
        join = markup_join if eval_ctx.autoescape else str_join
        joined: str = limits.checked(join(parts))
        return joined

    def loop_items(self, items: Iterable[Any]) -> Iterator[Any]:
        return limits.iterate(items)

    def _range(self, *args: int) -> range:
        limits.step()
        numbers = range(*args)
        if len(numbers) > limits.MAX_ITEMS:
            raise limits.LimitExceeded(
                f"it asks for a range of more than {limits.MAX_ITEMS:,} numbers"
            )
        return numbers

    def _output(self, value: Any) -> Any:
        """Every `{{ value }}`, before it becomes text."""
        size = limits.text_size(value)
        if size > limits.MAX_VALUE_CHARACTERS:
            raise limits.too_long()
        limits.spend(size)
        return value

    # -- what a template can reach ---------------------------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        limits.step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        limits.step()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> None:
        # `"{}".format` is refused with the other methods of text (`format` filter instead).
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, str):
            return attr in TEXT_METHODS
        if isinstance(obj, list | tuple):
            return attr in LIST_METHODS
        if isinstance(obj, dict):
            return attr in DICT_METHODS
        return not isinstance(obj, int | float)
