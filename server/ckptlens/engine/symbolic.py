"""Symbolic integers: constructor values the source leaves unknown, kept as named symbols so
that the checkpoint can fix them (issue 15).

An `Expr` is a small polynomial with integer coefficients over symbols (`n_embd`,
`config.n_layer`) and floor-division atoms (`n_embd // n_head`). Arithmetic that leaves these
forms (or grows too large) gives None: the value is then plainly unknown. `solve` finds the one
unknown of an equation `expr = value` when it is determined (linear, a product whose other
factors are known, a floor division with a single consistent solution) and never guesses.

The values the interpreter carries are `Sym` (an `Unknown` with an expression, so everything
that does not know about symbols treats it exactly as today's unknown), `SymConfig` (an unknown
config object whose attribute reads are symbols, or solved values) and `SymRange` / `SymSeq`
(a `range` of symbolic length and a list built by one iteration over it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ckptlens.engine.values import Unknown

MAX_TERMS = 8
MAX_DEGREE = 3
MAX_COEFFICIENT = 1 << 40


@dataclass(frozen=True)
class FloorDiv:
    """`num // den` of symbolic expressions."""

    num: Expr
    den: Expr

    def __str__(self) -> str:
        return f"{self.num.text(nested=True)} // {self.den.text(nested=True)}"


Factor = str | FloorDiv
Monomial = tuple[Factor, ...]


def _order(factor: Factor) -> str:
    return factor if isinstance(factor, str) else "\x7f" + str(factor)


@dataclass(frozen=True)
class Expr:
    """sum(coefficient * product(factors)); the empty monomial is the constant term."""

    terms: tuple[tuple[Monomial, int], ...]

    # -- building

    @staticmethod
    def const(value: int) -> Expr:
        return Expr((((), value),) if value else ())

    @staticmethod
    def var(name: str) -> Expr:
        return Expr((((name,), 1),))

    @staticmethod
    def _make(table: Mapping[Monomial, int]) -> Expr | None:
        items = [(m, c) for m, c in table.items() if c]
        if len(items) > MAX_TERMS or any(len(m) > MAX_DEGREE or abs(c) > MAX_COEFFICIENT for m, c in items):
            return None
        return Expr(tuple(sorted(items, key=lambda mc: (-len(mc[0]), [_order(f) for f in mc[0]]))))

    def add(self, other: Expr, sign: int = 1) -> Expr | None:
        table: dict[Monomial, int] = dict(self.terms)
        for m, c in other.terms:
            table[m] = table.get(m, 0) + sign * c
        return Expr._make(table)

    def mul(self, other: Expr) -> Expr | None:
        table: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                m = tuple(sorted((*m1, *m2), key=_order))
                table[m] = table.get(m, 0) + c1 * c2
        return Expr._make(table)

    def floordiv(self, other: Expr) -> Expr | None:
        divisor = other.constant
        if divisor is not None:
            if divisor <= 0:
                return None
            if all(c % divisor == 0 for _, c in self.terms):  # exact: a multiple of the divisor
                return Expr._make({m: c // divisor for m, c in self.terms})
        if self.constant is not None and self.constant == 0:
            return Expr.const(0)
        return Expr._make({(FloorDiv(self, other),): 1})

    # -- reading

    @property
    def constant(self) -> int | None:
        """The value, when the expression holds no symbol."""
        if not self.terms:
            return 0
        if len(self.terms) == 1 and self.terms[0][0] == ():
            return self.terms[0][1]
        return None

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for m, _ in self.terms:
            for f in m:
                if isinstance(f, str):
                    out.add(f)
                else:
                    out |= f.num.symbols() | f.den.symbols()
        return out

    def substitute(self, env: Mapping[str, int]) -> Expr | None:
        total: Expr | None = Expr.const(0)
        for m, c in self.terms:
            term: Expr | None = Expr.const(c)
            for f in m:
                if term is None:
                    return None
                if isinstance(f, str):
                    factor: Expr | None = Expr.const(env[f]) if f in env else Expr.var(f)
                else:
                    num, den = f.num.substitute(env), f.den.substitute(env)
                    if num is None or den is None:
                        return None
                    if den.constant is not None and den.constant <= 0:
                        return None
                    if num.constant is not None and den.constant is not None:
                        factor = Expr.const(num.constant // den.constant)
                    else:
                        factor = num.floordiv(den)
                if factor is None:
                    return None
                term = term.mul(factor)
            if term is None or total is None:
                return None
            total = total.add(term)
        return total

    def evaluate(self, env: Mapping[str, int]) -> int | None:
        value = self.substitute(env)
        return None if value is None else value.constant

    def text(self, nested: bool = False) -> str:
        if not self.terms:
            return "0"
        parts: list[str] = []
        for m, c in self.terms:
            alone = len(m) == 1 and abs(c) == 1 and len(self.terms) == 1
            body = " * ".join(f if isinstance(f, str) else str(f) if alone else f"({f})" for f in m)
            if not body:
                piece = str(abs(c))
            elif abs(c) == 1:
                piece = body
            else:
                piece = f"{abs(c)} * {body}"
            parts.append(("- " if c < 0 else "+ ") + piece if parts else ("-" if c < 0 else "") + piece)
        out = " ".join(parts)
        return f"({out})" if nested and (len(self.terms) > 1) else out

    def __str__(self) -> str:
        return self.text()


def reduce_expr(expr: Expr, env: Mapping[str, int], compound: Mapping[Monomial, int]) -> Expr | None:
    """`expr` with the symbols of `env` and the products of `compound` put in."""
    reduced = expr.substitute(env)
    if reduced is None or not compound:
        return reduced
    table: dict[Monomial, int] = {}
    for m, c in reduced.terms:
        if m in compound:
            table[()] = table.get((), 0) + c * compound[m]
        else:
            table[m] = table.get(m, 0) + c
    return Expr._make(table)


def solve_compound(expr: Expr, value: int, env: Mapping[str, int], compound: Mapping[Monomial, int]) -> tuple[Monomial, int] | None:
    """`expr = value` with one term left that is a product or a quotient of unknowns
    (`3 * heads * dim_head + 0 = 192`): that term's value as a whole (`heads * dim_head = 64`)
    when it is a positive integer. It checks the dims it makes; its factors stay unknown."""
    reduced = reduce_expr(expr, env, compound)
    if reduced is None:
        return None
    terms = [(m, c) for m, c in reduced.terms if m != ()]
    if len(terms) != 1:
        return None
    m, c = terms[0]
    if len(m) == 1 and isinstance(m[0], str):
        return None  # one plain symbol: `solve`'s to settle
    rest = value - sum(k for t, k in reduced.terms if t == ())
    if rest % c or rest // c < 1:
        return None
    return m, rest // c


def solve(expr: Expr, value: int, env: Mapping[str, int]) -> tuple[str, int] | None:
    """The one unknown symbol of `expr = value` (given `env`) and its value, when exactly one
    positive integer satisfies the equation; None when underdetermined, impossible or too hard."""
    reduced = expr.substitute(env)
    if reduced is None:
        return None
    unknowns = reduced.symbols()
    if len(unknowns) != 1:
        return None
    (x,) = unknowns
    linear = 0
    rest = 0
    division: tuple[int, FloorDiv] | None = None
    for m, c in reduced.terms:
        if m == ():
            rest += c
        elif m == (x,):
            linear += c
        elif len(m) == 1 and isinstance(m[0], FloorDiv) and division is None:
            division = (c, m[0])
        else:
            return None  # x * x, or two divisions
    if division is None:
        if linear == 0 or (value - rest) % linear:
            return None
        solution = (value - rest) // linear
        return (x, solution) if solution >= 1 else None
    if linear:
        return None
    coefficient, atom = division
    if (value - rest) % coefficient:
        return None
    quotient = (value - rest) // coefficient
    candidates = _floordiv_candidates(atom, quotient, x)
    if candidates is None or len(candidates) != 1:
        return None
    solution = candidates[0]
    return (x, solution) if solution >= 1 else None


MAX_CANDIDATES = 1 << 20


def _floordiv_candidates(atom: FloorDiv, quotient: int, x: str) -> list[int] | None:
    """The positive x with `atom == quotient` (at most two listed: more is underdetermined)."""
    num, den = atom.num, atom.den
    if num.constant is not None:  # N // (a*x + b) == q
        total = num.constant
        a, b = _linear_in(den, x)
        if a is None or b is None or quotient <= 0 or total < 0:
            return None
        low, high = total // (quotient + 1) + 1, total // quotient  # the divisors y with N // y == q
        ys = range(max(low, 1), high + 1)
        if len(ys) > 2:
            return [0, 0]
        return [(y - b) // a for y in ys if (y - b) % a == 0]
    if den.constant is not None:  # (a*x + b) // D == q
        divisor = den.constant
        a, b = _linear_in(num, x)
        if a is None or b is None or divisor <= 0:
            return None
        low, high = quotient * divisor, quotient * divisor + divisor - 1
        xs = [v for v in range(low, high + 1) if (v - b) % a == 0] if divisor <= 64 else None
        if xs is None:
            return None
        return [(v - b) // a for v in xs][:2]
    return None


def _linear_in(expr: Expr, x: str) -> tuple[int | None, int | None]:
    a, b = 0, 0
    for m, c in expr.terms:
        if m == ():
            b += c
        elif m == (x,):
            a += c
        else:
            return None, None
    return (a, b) if a > 0 else (None, None)


# ---------------------------------------------------------------- interpreter values


@dataclass(frozen=True, eq=False)
class Sym(Unknown):
    """An unknown integer with its expression: unknown to everything but the symbolic hooks."""

    expr: Expr = field(default_factory=lambda: Expr.const(0))
    # shared with the config it was read from: the symbols whose truth decided structure
    # (`if config.attention_bias:`, `nn.Linear(..., bias=config.mlp_bias)`)
    asked: dict[str, None] | None = field(default=None, compare=False, repr=False)
    # shared likewise: the symbols asked whether they are None (`x if x is not None else y`),
    # assumed present in the symbolic pass; the inference then tries them as None
    none_asked: dict[str, None] | None = field(default=None, compare=False, repr=False)
    # read by `getattr(config, "x", None)`: an optional int, truthy when present
    optional: bool = field(default=False, compare=False, repr=False)

    def note_truth(self) -> None:
        var = _plain_var(self)
        if self.asked is not None and var is not None:
            self.asked[var] = None

    def note_none(self) -> bool:
        """Asked whether it is None: assumed present (and recorded) when it is a plain
        symbol with a registry; False when nothing can be assumed."""
        var = _plain_var(self)
        if self.none_asked is None or var is None:
            return False
        self.none_asked[var] = None
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and other.expr == self.expr

    def __hash__(self) -> int:
        return hash(self.expr)


@dataclass(frozen=True, eq=False)
class SymConfig(Unknown):
    """A config object nobody gave: `config.n_embd` reads the symbol `config.n_embd`, or its
    solved value from `known`; everything else about it is unknown."""

    name: str = "config"
    known: Mapping[str, Any] = field(default_factory=dict)
    symbolic: bool = True
    reads: dict[str, None] = field(default_factory=dict)  # the attributes the code read, in order
    asked: dict[str, None] = field(default_factory=dict)  # those whose truth decided structure
    none_asked: dict[str, None] = field(default_factory=dict)  # those asked whether they are None
    # shared by a config and its nested ones: "class" (the config class, a ClassRef, set by the
    # prediction), "sub_configs" (its nested config fields), "defaults" (the class's default
    # object, built once), "assumed" ({`config.text_config`: the model type taken by default})
    context: dict[str, Any] = field(default_factory=dict)

    def attribute(self, attr: str, optional: bool = False) -> Any:
        if attr in self.known:
            return self.known[attr]
        if attr in self.context.get("sub_configs", {}).get(self.name, ()):
            return self.nested(attr, {})
        if self.symbolic and not attr.startswith("_"):
            self.reads[f"{self.name}.{attr}"] = None
            return Sym(
                self.reason, expr=Expr.var(f"{self.name}.{attr}"), asked=self.asked,
                none_asked=self.none_asked, optional=optional,
            )
        return Unknown(self.reason, self.maybe_module)

    def __deepcopy__(self, memo: dict[int, Any]) -> SymConfig:
        """The interpreter's copy of a branch's state: the copy's own `known`, so that what one
        branch of an unknown `if` sets (`config.hidden = 8`) stays in that branch until the
        branches are merged; the registries stay shared."""
        if not isinstance(self.known, dict):
            return self  # nothing can set it
        new = self.with_known({})
        memo[id(self)] = new
        new.known.update({k: copy.deepcopy(v, memo) for k, v in self.known.items()})  # type: ignore[attr-defined]
        return new

    def with_known(self, known: Mapping[str, Any]) -> SymConfig:
        """The same config (name, registries, context) with other values."""
        return SymConfig(
            self.reason, self.maybe_module, name=self.name, known=known, symbolic=self.symbolic, reads=self.reads,
            asked=self.asked, none_asked=self.none_asked, context=self.context,
        )

    def copy(self) -> SymConfig:
        """`copy.deepcopy(config)` in the code: its own values, so that
        `shallow.num_hidden_layers = 1` sets the copy's only; the registries stay shared."""
        return self.with_known({k: v.copy() if isinstance(v, SymConfig) else v for k, v in self.known.items()})

    def set(self, attr: str, value: Any) -> None:
        """`config.attr = value`: read back from now on."""
        known: Any = self.known
        if isinstance(known, dict):
            known[attr] = value

    def nested(self, attr: str, known: Mapping[str, Any]) -> SymConfig:
        """The config nobody gave at `self.attr` (`config.text_config`), sharing the registries."""
        return SymConfig(
            self.reason, name=f"{self.name}.{attr}", known=known, symbolic=self.symbolic, reads=self.reads,
            asked=self.asked, none_asked=self.none_asked, context=self.context,
        )


@dataclass(frozen=True, eq=False)
class SymList(Unknown):
    """A list nobody gave (`config.hidden_sizes`) read by index: `config.hidden_sizes[2]` is
    a symbol, or its solved value from `known`; its length and everything else is unknown."""

    name: str = ""
    known: Mapping[int, Any] = field(default_factory=dict)
    symbolic: bool = True
    length: int | None = None  # `len(config.depths)` once solved

    def item(self, index: int) -> Any:
        if index in self.known:
            return self.known[index]
        if self.length is not None and -self.length <= index < 0 and index + self.length in self.known:
            return self.known[index + self.length]
        if self.symbolic:
            return Sym(self.reason, expr=Expr.var(f"{self.name}[{index}]"))
        return Unknown(self.reason)


def _plain_var(value: Sym) -> str | None:
    terms = value.expr.terms
    if len(terms) == 1 and terms[0][1] == 1 and len(terms[0][0]) == 1 and isinstance(terms[0][0][0], str):
        return terms[0][0][0]
    return None


def attribute_of(value: Any, attr: str) -> Any:
    """`config.text_config.hidden_size`: an attribute of a symbol read from a config nobody
    gave (a nested config) is a symbol too; None for anything else."""
    if isinstance(value, Sym) and not attr.startswith("_"):
        var = _plain_var(value)
        if var is not None and "." in var and "[" not in var:
            return Sym(value.reason, expr=Expr.var(f"{var}.{attr}"), asked=value.asked)
    return None


def item_of(value: Any, index: Any) -> Any:
    """`value[index]` for a symbolic list or a symbol read from a config (`config.depths[1]`),
    else None. A slice with known non-negative bounds (`config.depths[:2]`) is the list of
    its items."""
    if isinstance(index, slice) and isinstance(value, (Sym, SymList)):
        start, stop, step = index.start, index.stop, index.step
        if step not in (None, 1) or start is not None and not _small(start) or not _small(stop):
            return None
        return [item_of(value, i) for i in range(start or 0, stop)]
    if isinstance(index, bool) or not isinstance(index, int) or abs(index) > 4096:
        return None
    if isinstance(value, SymList):
        return value.item(index)
    if isinstance(value, Sym):
        var = _plain_var(value)
        if var is not None:
            return Sym(value.reason, expr=Expr.var(f"{var}[{index}]"))
    return None


def _small(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4096


def is_none(value: Any) -> bool | None:
    """`value is None` for a symbol or a nested config nobody gave: False (assumed present;
    the inference tries it as None later), or None when nothing can be assumed."""
    if isinstance(value, Sym):
        return False if value.note_none() else None
    if isinstance(value, SymConfig) and value.symbolic and "." in value.name:
        value.none_asked[value.name] = None
        value.context.setdefault("configs", {})[value.name] = None
        return False
    return None


def truth_of(value: Any) -> bool | None:
    """The truth of an optional symbol (`getattr(config, "head_dim", None) or ...`): present,
    so truthy (recorded as asked whether it is None); None for anything else."""
    if isinstance(value, Sym) and value.optional and value.note_none():
        return True
    return None


def sym_sum(items: list[Any], start: Any = 0) -> Any:
    """`sum(items)` when some are symbols and all are ints or symbols; None otherwise."""
    if not any(isinstance(v, Sym) for v in items):
        return None
    total: Any = start
    for item in items:
        total = binop("+", total, item)
        if total is None or (isinstance(total, Unknown) and not isinstance(total, Sym)):
            return None
    return total


@dataclass(frozen=True, eq=False)
class SymRange(Unknown):
    """`range(start, stop)` with a symbolic stop: `count` iterations from `start` (an int, or a
    symbol: `range(sum(depths[:i]), sum(depths[:i]) + depths[i])`)."""

    start: Any = 0
    count: Expr = field(default_factory=lambda: Expr.const(0))


@dataclass(frozen=True, eq=False)
class SymSeq(Unknown):
    """A list of symbolic length: `head` (known items), then `count` iterations each adding
    the items of `one` (those of the first iteration)."""

    head: tuple[Any, ...] = ()
    one: tuple[Any, ...] = ()
    count: Expr = field(default_factory=lambda: Expr.const(0))


@dataclass(eq=False)
class SymItems:
    """A container (ModuleList, Sequential) of symbolic length: `head` known children, then
    `count` iterations each adding the children in `one` (built by the first iteration)."""

    count: Expr
    head: list[Any]
    one: list[Any]


def sym_value(value: Any) -> Expr | None:
    """The expression of a Sym or a plain int, else None."""
    if isinstance(value, Sym):
        return value.expr
    if isinstance(value, int) and not isinstance(value, bool):
        return Expr.const(value)
    return None


def as_value(expr: Expr | None, reason: str) -> Any:
    """An expression as an interpreter value: an int when constant, else a Sym (None: unknown)."""
    if expr is None:
        return Unknown(reason)
    constant = expr.constant
    return constant if constant is not None else Sym(reason, expr=expr)


def binop(kind: str, left: Any, right: Any) -> Any:
    """`left <op> right` where one side is a Sym: a Sym, an int, or None (not symbolic)."""
    a, b = sym_value(left), sym_value(right)
    if a is None or b is None:
        return None
    reason = (left if isinstance(left, Sym) else right).reason
    if kind == "+":
        return as_value(a.add(b), reason)
    if kind == "-":
        return as_value(a.add(b, -1), reason)
    if kind == "*":
        return as_value(a.mul(b), reason)
    if kind == "//":
        return as_value(a.floordiv(b), reason)
    return None


def config_model_type(interp: Any, config: Any) -> str | None:
    """The model type of a nested config nobody gave (`AutoModel.from_config(config.text_config)`):
    the one given (`--init config.text_config.model_type=qwen2`), else its config class's
    default (built once), recorded as assumed: the inference keeps it only where the
    checkpoint's keys fit the model it builds. None for anything else."""
    if not isinstance(config, SymConfig) or "." not in config.name:
        return None
    given = config.known.get("model_type")
    if given is not None:
        return given if isinstance(given, str) else None
    context = config.context
    if "defaults" not in context:
        context["defaults"] = None
        cls = context.get("class")
        if cls is not None:
            try:
                context["defaults"] = interp.instantiate(cls, [], {})
            except Exception as exc:  # noqa: BLE001 - no default object: no default type
                if type(exc).__name__ == "Budget":  # the analysis's budget (interp's; not imported: no loop)
                    raise
    obj = context["defaults"]
    for part in config.name.split(".")[1:]:
        obj = interp.getattr(obj, part) if obj is not None and not isinstance(obj, Unknown) else None
    model_type = interp.getattr(obj, "model_type") if obj is not None and not isinstance(obj, Unknown) else None
    if not isinstance(model_type, str):
        return None
    context.setdefault("assumed", {})[config.name] = model_type
    cls = getattr(obj, "cls", None)
    if cls is not None:  # its own nested configs (`config.detector_config.vision_config`)
        context.setdefault("sub_configs", {})[config.name] = _sub_configs(interp, cls)
    return model_type


def symbolic_config_class(interp: Any, config: Any, cls: Any) -> None:
    """A config nobody gave learns its class (the one the model declares) and the fields that
    hold nested configs (transformers' `sub_configs`), read by this interpreter."""
    if not isinstance(config, SymConfig) or cls is None:
        return
    config.context.pop("defaults", None)  # built by this interpreter when needed
    config.context["class"] = cls
    config.context["sub_configs"] = {config.name: _sub_configs(interp, cls)}


def _sub_configs(interp: Any, cls: Any) -> frozenset[str]:
    found, table = interp.class_attr(cls, "sub_configs")
    return frozenset(k for k in table if isinstance(k, str)) if found and isinstance(table, dict) else frozenset()


def settle_attention(interp: Any, receiver: Any, config: Any) -> None:
    """PreTrainedModel.__init__ with a config nobody gave: the attention implementation is
    settled as transformers does when none is asked for (sdpa where the class supports it),
    not a value the checkpoint was saved with (`BARK_ATTENTION_CLASSES[config._attn_implementation]`)."""
    if not isinstance(config, SymConfig) or getattr(receiver, "cls", None) is None:
        return
    known: Any = config.known
    if isinstance(known, dict) and "_attn_implementation" not in known:
        found, sdpa = interp.class_attr(receiver.cls, "_supports_sdpa")
        known["_attn_implementation"] = "sdpa" if found and sdpa is True else "eager"


def _list_name(value: Any) -> str | None:
    """The name of a list nobody gave (`config.depths`) whose length is unknown."""
    if isinstance(value, SymList):
        return value.name if value.length is None and value.symbolic else None
    if isinstance(value, Sym):
        var = _plain_var(value)
        return var if var is not None and not var.startswith("len(") else None
    return None


def length_of(value: Any) -> Any:
    """`len(config.depths)`: the symbol `len(config.depths)`, or the solved length; None for
    anything else."""
    if isinstance(value, SymList) and value.length is not None:
        return value.length
    name = _list_name(value)
    return Sym(value.reason, expr=Expr.var(f"len({name})")) if name is not None else None


def items_of(value: Any) -> list[Any] | None:
    """The items of a list nobody gave whose length is solved."""
    if isinstance(value, SymList) and value.length is not None and value.length <= 4096:
        return [value.item(i) for i in range(value.length)]
    return None


def as_range(value: Any, enumerated: int | None = None) -> SymRange | None:
    """A loop over a list nobody gave (`for depth in config.depths`, `enumerate(...)`): its
    first item (with its index), `len(config.depths)` iterations."""
    name = _list_name(value)
    if name is None:
        return None
    first = value.item(0) if isinstance(value, SymList) else Sym(value.reason, expr=Expr.var(f"{name}[0]"))
    start = first if enumerated is None else (enumerated, first)
    return SymRange(f"a loop over `{name}`, of unknown length", start=start, count=Expr.var(f"len({name})"))


def members(names: Mapping[str, Any]) -> list[tuple[Any, frozenset[str]]]:
    """The plain modules among `names` (`self`), with their members before a symbolic loop."""
    from ckptlens.engine.objects import ModuleValue

    return [
        (v, frozenset((*v.children, *v.params, *v.buffers, *v.uncertain)))
        for v in names.values()
        if isinstance(v, ModuleValue) and not v.container and v.opaque is None
    ]


def open_grown(before: list[tuple[Any, frozenset[str]]], where: Any, reason: str) -> None:
    """After a loop of symbolic length: a plain module that gained members of its own in its
    first iteration (`setattr(self, f"embedder_{i}", ...)`) may gain more in the others: open,
    as it is after a loop of unknown length (a container it extends is counted instead)."""
    from ckptlens.engine.objects import mark_open

    for module, names in before:
        if set((*module.children, *module.params, *module.buffers, *module.uncertain)) - names:
            mark_open(module, reason, where)
