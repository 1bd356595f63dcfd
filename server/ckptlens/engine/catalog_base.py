"""The layer catalog's vocabulary: signatures, tensor declarations, binding, dim arithmetic.

Rows live in `catalog_layers` (layers that own tensors or build submodules) and
`catalog_simple` (parameterless layers); `catalog` assembles them and answers `lookup`.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ckptlens.engine import symbolic
from ckptlens.engine.dtype_names import DEFAULT_DTYPE, dtype_name
from ckptlens.engine.model import Dim, Shape
from ckptlens.engine.symbolic import Sym
from ckptlens.engine.values import Unknown, Unresolvable, as_dim, is_unknown, known_int, truth


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a parameter that has none

POSITIONAL_OR_KEYWORD = "positional_or_keyword"
KEYWORD_ONLY = "keyword_only"
VAR_POSITIONAL = "var_positional"
VAR_KEYWORD = "var_keyword"


@dataclass(frozen=True)
class Param:
    """One parameter of a catalog signature."""

    name: str
    default: Any = REQUIRED
    kind: str = POSITIONAL_OR_KEYWORD


@dataclass(frozen=True)
class LibraryFunction:
    """A default that is a library function, not a module (`activation=F.relu`)."""

    qualname: str


@dataclass(frozen=True)
class TensorDecl:
    """A parameter or buffer a torch layer registers."""

    name: str
    shape: Shape  # dims int or None (unknown); None = rank unknown
    persistent: bool = True  # buffers only: False = not in state_dict
    dtype: str = DEFAULT_DTYPE


@dataclass(frozen=True)
class ChildLayer:
    """A submodule the layer builds itself from another catalog row. `args` are complete (every
    parameter of that row bound, defaults filled), so `lookup(qualname).build(args)` applies
    as is. Rows that take modules (TransformerEncoder's `encoder_layer`, Sequential's
    elements) may receive a ChildLayer (named "") as an argument value: they turn it into
    ChildLayers of their own, so a ChildFromArg never points at one."""

    name: str
    qualname: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ChildFromArg:
    """A submodule passed in as an argument: the runtime value of `arg` (a module, None = no
    child, Unknown = an unknown subtree). `copies=n`: an nn.ModuleList of n deep copies
    named "0".."n-1"."""

    name: str
    arg: str
    copies: int | None = None


@dataclass
class LayerBuild:
    """What a torch layer builds from its arguments: tensors, children, attributes."""

    parameters: list[TensorDecl] = field(default_factory=list)
    buffers: list[TensorDecl] = field(default_factory=list)
    children: list[ChildLayer | ChildFromArg] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


BuildFn = Callable[[dict[str, Any]], LayerBuild]


@dataclass(frozen=True)
class LayerSpec:
    """A torch layer of the catalog: its name, signature and build function."""

    qualname: str  # canonical, e.g. "torch.nn.Linear"
    params: tuple[Param, ...]
    build: BuildFn
    is_container: bool = False

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


# ---------------------------------------------------------------- signatures

# Non-literal defaults that appear in torch signatures.
_NAMED_DEFAULTS: Mapping[str, Any] = {
    "F.relu": LibraryFunction("torch.nn.functional.relu"),
}


_SIMPLE_DEFAULTS: Mapping[str, Any] = {"True": True, "False": False, "None": None}
_NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_]\w*")


def _quick_signature(text: str) -> tuple[Param, ...] | None:
    """`signature` without `ast.parse` for the common lists (names, `*`, `*args`, `**kwargs`,
    defaults that are True/False/None, numbers or plain strings); None for anything else.
    Hundreds of rows are built at import: this is most of their cost."""
    params: list[Param] = []
    kind = POSITIONAL_OR_KEYWORD
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "*":
            kind = KEYWORD_ONLY
            continue
        if params and params[-1].kind == VAR_KEYWORD:
            return None
        if part.startswith("**") and _IDENT.fullmatch(part[2:]):
            params.append(Param(part[2:], REQUIRED, VAR_KEYWORD))
            continue
        if part.startswith("*") and _IDENT.fullmatch(part[1:]):
            params.append(Param(part[1:], REQUIRED, VAR_POSITIONAL))
            kind = KEYWORD_ONLY
            continue
        name, eq, raw = (p.strip() for p in part.partition("="))
        if not _IDENT.fullmatch(name) or name in _SIMPLE_DEFAULTS:
            return None
        if not eq:
            if any(p.default is not REQUIRED and p.kind == POSITIONAL_OR_KEYWORD for p in params) and kind != KEYWORD_ONLY:
                return None  # a syntax error: let ast say so
            params.append(Param(name, REQUIRED, kind))
        elif raw in _SIMPLE_DEFAULTS:
            params.append(Param(name, _SIMPLE_DEFAULTS[raw], kind))
        elif _NUMBER.fullmatch(raw):
            params.append(Param(name, float(raw) if any(c in raw for c in ".eE") else int(raw), kind))
        elif len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and _IDENT.fullmatch(raw[1:-1] or "_"):
            params.append(Param(name, raw[1:-1], kind))
        else:
            return None
    return tuple(params)


_SIGNATURES: dict[str, tuple[Param, ...]] = {}  # by text: rows share lists (235 rows, 97 lists)


def signature(text: str) -> tuple[Param, ...]:
    """Params from a Python parameter list copied from torch's source (without annotations):
    `"in_features, out_features, bias=True, device=None, dtype=None"`."""
    known = _SIGNATURES.get(text)
    if known is None:
        known = _SIGNATURES[text] = _signature(text)
    return known


def _signature(text: str) -> tuple[Param, ...]:
    quick = _quick_signature(text)
    if quick is not None:
        return quick
    tree = ast.parse(f"def f({text}): pass")
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    spec = func.args

    def default(node: ast.expr | None) -> Any:
        if node is None:
            return REQUIRED
        source = ast.unparse(node)
        if source in _NAMED_DEFAULTS:
            return _NAMED_DEFAULTS[source]
        return ast.literal_eval(node)

    params: list[Param] = []
    positional = spec.args
    first_default = len(positional) - len(spec.defaults)
    for i, arg in enumerate(positional):
        node = spec.defaults[i - first_default] if i >= first_default else None
        params.append(Param(arg.arg, default(node)))
    if spec.vararg is not None:
        params.append(Param(spec.vararg.arg, REQUIRED, VAR_POSITIONAL))
    for arg, node in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
        params.append(Param(arg.arg, default(node), KEYWORD_ONLY))
    if spec.kwarg is not None:
        params.append(Param(spec.kwarg.arg, REQUIRED, VAR_KEYWORD))
    return tuple(params)


class ArgumentError(Unresolvable):
    """The call does not fit the constructor's signature: torch raises TypeError."""


def bind(spec: LayerSpec, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Bound arguments in parameter order with defaults filled, as `Signature.bind` +
    `apply_defaults`. Unresolvable on arity errors and on unknown `*args` / `**kwargs`.
    Idempotent: `bind(spec, (), bind(spec, args, kwargs))` gives the same dict back (the
    `*args` tuple may come by its name), so a ChildLayer's `args` can be bound again."""
    if is_unknown(args) or is_unknown(kwargs):
        raise Unresolvable(f"the arguments of {spec.qualname} are unknown (a * or ** splat)")
    by_name = {p.name: p for p in spec.params}
    positional = [p for p in spec.params if p.kind == POSITIONAL_OR_KEYWORD]
    var_positional = next((p for p in spec.params if p.kind == VAR_POSITIONAL), None)
    var_keyword = next((p for p in spec.params if p.kind == VAR_KEYWORD), None)

    given: dict[str, Any] = {}
    args = list(args)
    for slot, value in zip(positional, args, strict=False):
        given[slot.name] = value
    extra = args[len(positional) :]
    if extra:
        if var_positional is None:
            raise ArgumentError(
                f"{spec.qualname} takes {len(positional)} positional arguments, {len(args)} given"
            )
        given[var_positional.name] = tuple(extra)
    extra_keywords: dict[str, Any] = {}
    for key, value in kwargs.items():
        named = by_name.get(key)
        if named is not None and named.kind in (POSITIONAL_OR_KEYWORD, KEYWORD_ONLY):
            if key in given:
                raise ArgumentError(f"{spec.qualname} got multiple values for {key!r}")
            given[key] = value
        elif named is not None and named.kind == VAR_POSITIONAL and not args:
            # re-binding bound arguments (a ChildLayer's): Python rejects this keyword, so
            # accepting it changes nothing for real calls
            given[key] = tuple(value)
        elif named is not None and named.kind == VAR_KEYWORD and isinstance(value, dict):
            extra_keywords.update(value)  # re-binding, as above (no row reads such a keyword)
        elif var_keyword is not None:
            extra_keywords[key] = value
        else:
            raise ArgumentError(f"{spec.qualname} got an unexpected keyword argument {key!r}")

    bound: dict[str, Any] = {}
    for p in spec.params:
        if p.kind == VAR_POSITIONAL:
            bound[p.name] = given.get(p.name, ())
        elif p.kind == VAR_KEYWORD:
            bound[p.name] = extra_keywords
        elif p.name in given:
            bound[p.name] = given[p.name]
        elif p.default is REQUIRED:
            raise ArgumentError(f"{spec.qualname} is missing the argument {p.name!r}")
        else:
            bound[p.name] = p.default
    return bound


# ---------------------------------------------------------------- dims and flags


def dim(value: Any) -> Dim:
    # a symbol (the inference's symbolic pass) stays a symbol: the checkpoint may fix it
    return _dim_or_none(value)


def _symbolic(kind: str, values: Sequence[Any]) -> Any:
    """`values` combined by `kind` when one is a symbol (None when not symbolic)."""
    if not any(isinstance(v, Sym) for v in values):
        return None
    out: Any = values[0]
    for value in values[1:]:
        out = symbolic.binop(kind, out, value)
        if out is None or (is_unknown(out) and not isinstance(out, Sym)):
            return Unknown("not symbolic")
    return out


def _dim_or_none(value: Any) -> Any:
    """An int dim, a symbol, or None (unknown)."""
    return value if isinstance(value, Sym) else as_dim(value)


def mul(*values: Any) -> Dim:
    sym = _symbolic("*", values)
    if sym is not None:
        return _dim_or_none(sym)
    dims = [as_dim(v) for v in values]
    if any(d is None for d in dims):
        return None
    return math.prod(d for d in dims if d is not None)


def floordiv(a: Any, b: Any) -> Dim:
    sym = _symbolic("//", (a, b))
    if sym is not None:
        return _dim_or_none(sym)
    x, y = as_dim(a), as_dim(b)
    if x is None or y is None or y == 0:
        return None
    return x // y


def sub(a: Any, b: Any) -> Dim:
    sym = _symbolic("-", (a, b))
    if sym is not None:
        return _dim_or_none(sym)
    x, y = as_dim(a), as_dim(b)
    if x is None or y is None:
        return None
    return x - y


def ntuple(value: Any, n: int) -> tuple[Any, ...]:
    """torch's `_ntuple(n)`: an iterable as a tuple, anything else repeated n times. An unknown
    value is taken as a scalar (its n copies stay unknown)."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * n


def dims(values: Sequence[Any]) -> tuple[Dim, ...]:
    return tuple(dim(v) for v in values)


def flag(args: Mapping[str, Any], name: str) -> bool:
    """A boolean argument that decides which keys exist."""
    return truth(args[name], f"the argument {name!r}")


def count(args: Mapping[str, Any], name: str) -> int:
    """An int argument that decides how many keys exist."""
    return known_int(args[name], f"the argument {name!r}")


def dtype_of(args: Mapping[str, Any]) -> str:
    """The dtype a layer's factory kwargs give its tensors."""
    return dtype_name(args.get("dtype"))


def is_given(args: Mapping[str, Any], name: str) -> bool:
    """`args[name] is not None`, when that decides which keys exist."""
    value = args[name]
    if is_unknown(value):
        raise Unresolvable(f"whether the argument {name!r} is given is unknown ({value.reason})")
    return value is not None


def param(name: str, shape: Shape, dtype: str = DEFAULT_DTYPE) -> TensorDecl:
    return TensorDecl(name, shape, True, dtype)


def buffer(
    name: str, shape: Shape, dtype: str = DEFAULT_DTYPE, persistent: bool = True
) -> TensorDecl:
    return TensorDecl(name, shape, persistent, dtype)


def known(value: Dim, reason: str) -> Any:
    """A computed dim as an attribute value: the int, or an Unknown saying what it is."""
    return value if value is not None else Unknown(f"{reason} is unknown")


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """A catalog row as declared: where torch defines the class, its signature and builder."""

    module: str  # the defining module, e.g. "torch.nn.modules.linear"
    name: str  # the class name
    params: tuple[Param, ...]
    build: BuildFn
    public: bool = True  # exported as torch.nn.<name> (and torch.nn.modules.<name>)
    is_container: bool = False
    aliases: tuple[str, ...] = ()  # further qualified names torch exposes it under

    @property
    def qualname(self) -> str:
        return f"torch.nn.{self.name}" if self.public else f"{self.module}.{self.name}"

    def spec(self) -> LayerSpec:
        return LayerSpec(
            self.qualname, self.params, _guarded(self.build, self.name), self.is_container
        )


def _guarded(build: BuildFn, name: str) -> BuildFn:
    """Arguments torch itself would reject (`LSTM(proj_size=None)`) make the layer
    unresolvable rather than crash the analysis."""

    def run(args: dict[str, Any]) -> LayerBuild:
        try:
            return build(args)
        except (
            TypeError,
            ValueError,
            ArithmeticError,
            IndexError,
            KeyError,
            AttributeError,
        ) as exc:
            raise Unresolvable(f"{name} cannot be built from these arguments ({exc})") from exc

    return run


def row(
    module: str,
    name: str,
    sig: str,
    build: BuildFn,
    *,
    public: bool = True,
    is_container: bool = False,
    aliases: tuple[str, ...] = (),
) -> Row:
    """A row of a class defined in `torch.nn.modules.<module>` (or a full module path)."""
    full = module if module.startswith("torch.") else f"torch.nn.modules.{module}"
    return Row(full, name, signature(sig), build, public, is_container, aliases)


def nothing(args: dict[str, Any]) -> LayerBuild:
    return LayerBuild()


# ---------------------------------------------------------------- child layers and losses

A = dict[str, Any]
Child = ChildLayer | ChildFromArg

# The catalog's index (`catalog.lookup`), installed by `catalog` once it has indexed every row
# (`install_index`): a builder that makes a child layer binds the child's arguments to that
# row's signature. Rows are built only through the catalog, so the index is there by then; the
# row modules never import the catalog that is assembled from them.
_INDEX: list[Callable[[str], LayerSpec | None]] = []


def install_index(lookup: Callable[[str], LayerSpec | None]) -> None:
    _INDEX[:] = [lookup]


def child(name: str, qualname: str, *args: Any, **kwargs: Any) -> ChildLayer:
    """A submodule built from the row `qualname`, its arguments bound and defaults filled."""
    spec = _INDEX[0](qualname)
    if spec is None:
        raise KeyError(qualname)
    return ChildLayer(name, spec.qualname, bind(spec, args, kwargs))


def reduction(a: Mapping[str, Any]) -> Any:
    """`_Loss.__init__`: the deprecated size_average / reduce, when given, decide `reduction`."""
    size_average, reduce = a.get("size_average"), a.get("reduce")
    if size_average is None and reduce is None:
        return a.get("reduction", "mean")
    if is_unknown(size_average) or is_unknown(reduce):
        return Unknown("reduction from the deprecated size_average / reduce")
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def module_arg(name: str, value: Any, arg: str, copies: int | None = None) -> list[Child]:
    """The child a module-valued argument makes: none for None, a catalog-built module
    (ChildLayer) renamed in place, else the runtime value (ChildFromArg)."""
    if value is None:
        return []
    if isinstance(value, ChildLayer):
        if copies is None:
            return [ChildLayer(name, value.qualname, value.args)]
        clones = [ChildLayer(str(i), value.qualname, value.args) for i in range(copies)]
        return [child(name, "torch.nn.ModuleList", modules=clones)]
    return [ChildFromArg(name, arg, copies)]
