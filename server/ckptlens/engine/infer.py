"""Infer the constructor values a checkpoint was saved with (issue 15).

A constructor value nobody gives (a required parameter, a config object) becomes a symbol;
the symbolic prediction's dims and container lengths are equations against the checkpoint's
shapes and indices (after its prefix and renames are found); each equation with one unknown is
solved, the value most equations agree on is kept (a tie stays unknown: never guess), and the
model is predicted again with the solved values, so that everything is checked against them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ckptlens.engine.messages import Inferred, InferredValueRead
from ckptlens.engine.model import PredictedStateDict
from ckptlens.engine.symbolic import (
    Expr,
    Sym,
    SymConfig,
    SymList,
    reduce_expr,
    solve,
    solve_compound,
)
from ckptlens.engine.values import Unknown
from ckptlens.findings import MISMATCH_CODES, Finding

if TYPE_CHECKING:
    from ckptlens.engine.constructor import ConstructorPlan
    from ckptlens.engine.predict import Analyzer, TargetInfo

SOURCE = "inferred from the checkpoint"
MAX_EQUATIONS = 20_000


@dataclass(frozen=True)
class Equation:
    expr: Expr
    value: int
    site: str  # a checkpoint key (`transformer.wte.weight`) or a container (`h`)
    dim: int | None = None  # the dim of `site`'s shape; None: the container's length
    model_site: str | None = None  # a container's path in the model


@dataclass(frozen=True)
class InferredValue:
    name: str  # as the source names it: `n_layer`, `config.hidden_size`
    value: int
    where: str  # `h.0 … h.5`, `transformer.wte.weight [300, 32]`
    # a length read from a container: (its path in the model, in the checkpoint), so that the
    # model built with the value can be seen to have exactly the checkpoint's items
    container: tuple[str, str] | None = None


@dataclass
class Inference:
    values: dict[str, InferredValue] = field(default_factory=dict)
    undetermined: list[str] = field(default_factory=list)
    pinned: dict[str, Any] = field(default_factory=dict)  # `--init config.n_layer=6`: given, not inferred
    plan: Any = None  # the ConstructorPlan the values complete
    # what the model is built with beyond the values, though the checkpoint does not fix it:
    # a nested config's model type its class defaults to, kept where the checkpoint's keys
    # fit it (else an unknown, as before), and an optional value that builds the same model
    # as None (`n_inner`: 4 * n_embd either way)
    assumed: dict[str, Any] = field(default_factory=dict)
    # products and quotients of unknowns the checkpoint fixes as a whole
    # (`num_heads * head_dim = 4096`): they check the dims they make; never their factors
    compound: dict[Any, int] = field(default_factory=dict)

    @property
    def plain(self) -> dict[str, Any]:
        return {name: v.value for name, v in self.values.items()}


_INDEXED = re.compile(r"^(?P<base>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\[(?P<index>-?\d+)\]$")
_LENGTH = re.compile(r"^len\((?P<base>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\)$")
MAX_ROUNDS = 4


def _inputs(info: TargetInfo, plan: ConstructorPlan, known: Mapping[str, Any], symbolic: bool) -> dict[str, Any]:
    """The constructor inputs nobody gives, as the prediction receives them: the `known` values
    (flat names: `n_layer`, `config.n_embd`, `config.depths[2]`) in place, every other one a
    symbol when `symbolic` (else left out, or unknown: the analysis's usual unknown)."""
    params: dict[str, Any] = {}
    config: dict[str, Any] = {}
    lists: dict[str, dict[int, Any]] = {}
    lengths: dict[str, int] = {}
    for name, value in known.items():
        match = _INDEXED.match(name)
        counted = _LENGTH.match(name)
        if match:
            lists.setdefault(match.group("base"), {})[int(match.group("index"))] = value
        elif counted and isinstance(value, int):
            lists.setdefault(counted.group("base"), {})
            lengths[counted.group("base")] = value
        else:
            params[name] = value
    for base, items in lists.items():
        params[base] = SymList(f"`{base}` is not given", name=base, known=items, symbolic=symbolic, length=lengths.get(base))
    for name in list(params):
        head, dot, attr = name.partition(".")
        if dot:
            value = params.pop(name)
            if head == info.config_param:
                config[attr] = value
    out: dict[str, Any] = {}
    none_asked: dict[str, None] = {}  # shared by the plain symbols, as a config's are
    for name in info.required:
        if name in plan.kwargs:
            continue
        reason = f"argument `{name}` of `{info.name}` is not given (pass --init {name}=...)"
        if name == info.config_param:
            if plan.config is None and (symbolic or config):
                out[name] = _config(reason, name, config, symbolic)
        elif name in params:
            out[name] = params[name]
        elif symbolic:
            out[name] = Sym(reason, expr=Expr.var(name), none_asked=none_asked)
    return out


def _config(reason: str, name: str, fields: Mapping[str, Any], symbolic: bool) -> SymConfig:
    """A config nobody gave with the `fields` known (`text_config.hidden_size`: a nested one,
    sharing the registries of its root)."""
    root = SymConfig(reason, name=name, known={}, symbolic=symbolic)
    _fill(root, fields)
    return root


def _fill(config: SymConfig, fields: Mapping[str, Any]) -> None:
    known: dict[str, Any] = config.known  # type: ignore[assignment]  # built here, a dict
    nested: dict[str, dict[str, Any]] = {}
    for attr, value in fields.items():
        head, dot, rest = attr.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            known[attr] = value
    for head, sub in nested.items():
        if head not in known:
            child = config.nested(head, {})
            _fill(child, sub)
            known[head] = child


MAX_FLAGS = 6


def _asked(value: Any) -> dict[str, None]:
    """The symbols of a config nobody gave (nested ones too) whose truth decided structure."""
    out: dict[str, None] = {}
    if isinstance(value, SymConfig):
        out.update(value.asked)
        for item in value.known.values():
            out.update(_asked(item))
    return out


def _none_asked(value: Any) -> dict[str, None]:
    """The symbols (and nested configs) asked whether they are None, assumed present."""
    if isinstance(value, (Sym, SymConfig)):
        return dict(value.none_asked or {})
    return {}


def _assumed_types(value: Any) -> dict[str, str]:
    """{`config.text_config`: the model type its class's default gave it}."""
    return dict(value.context.get("assumed", {})) if isinstance(value, SymConfig) else {}


def _probe_flags(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    tensors: Mapping[str, Any],
    known: Mapping[str, Any],
    flags: list[str],
) -> dict[str, bool]:
    """A flag (`config.attention_bias`) that decides which keys exist: the model is built with
    it True and with it False; the value under which fewer keys mismatch, and no more are
    left unchecked, is the checkpoint's. A flag under which both fit alike stays unknown."""
    from ckptlens.engine.compare import compare

    chosen: dict[str, bool] = {}
    for name in flags:
        scores: dict[bool, tuple[int, int]] = {}
        for value in (True, False):
            inputs = _inputs(info, plan, {**known, **chosen, name: value}, symbolic=False)
            try:
                probe = engine.predict(source, class_name, {**plan.kwargs, **inputs}, config=plan.config)
                comparison = compare(probe, tensors)
            except Exception:  # noqa: BLE001 - a probe that fails proves nothing
                break
            scores[value] = (len(mismatched_keys(comparison.findings)), comparison.coverage.unchecked)
        if len(scores) != 2:
            continue
        (m_true, u_true), (m_false, u_false) = scores[True], scores[False]
        if m_true < m_false and u_true <= u_false:
            chosen[name] = True
        elif m_false < m_true and u_false <= u_true:
            chosen[name] = False
    return chosen


def unknown_inputs(info: TargetInfo, plan: ConstructorPlan, pinned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A symbol for every constructor parameter nobody gives (a symbolic config object for the
    config parameter, with the fields `pinned` gives: `{"config.n_layer": 6}`): the values of
    the symbolic pass."""
    return _inputs(info, plan, pinned or {}, symbolic=True)


def solved_inputs(info: TargetInfo, inference: Inference) -> dict[str, Any]:
    """The constructor values the inference fixed (and those pinned), as `init` values."""
    return _inputs(info, plan_of(inference), {**inference.pinned, **inference.plain}, symbolic=False)


def as_data(value: Any) -> Any:
    """A solved input as plain data (the constructor values shown and rebuilt): a config as a
    dict of its fields, a list of solved length as a list (None where an item is not fixed), a
    list of unknown length as None."""
    if isinstance(value, SymConfig):
        return {
            k: as_data(v) for k, v in value.known.items()
            if not k.startswith("_") and not (isinstance(v, Unknown) and not isinstance(v, (SymConfig, SymList)))
        }
    if isinstance(value, SymList):
        if value.length is None:
            return None
        return [as_data(value.item(i)) if not isinstance(value.item(i), Unknown) else None for i in range(value.length)]
    return value


def plan_of(inference: Inference) -> Any:
    return inference.plan


def infer(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    tensors: Mapping[str, Any],
    pinned: Mapping[str, Any] | None = None,
) -> Inference | None:
    """The values of the unknown constructor inputs the checkpoint's `tensors` determine
    (None when every input is given). Values solved in one round are given in the next, where
    they may decide a branch or a loop that reveals more (`config.depths[i]` once the number
    of stages is known). Then the flags whose truth decides structure, the values asked
    whether they are None (assumed present until then), and the model types nested configs
    take by default are tried against the checkpoint's keys."""
    pinned = dict(pinned or {})
    if not unknown_inputs(info, plan, pinned):
        return None
    solved: dict[str, InferredValue] = {}
    assumed: dict[str, Any] = {}
    last = Inference()
    asked: dict[str, None] = {}
    none_asked: dict[str, None] = {}
    types: dict[str, str] = {}
    probed: dict[str, None] = {}
    none_probed: set[str] = set()
    configs: set[str] = set()  # nested configs nobody gave (`config.vision_config`)
    rounds = 0
    while rounds < MAX_ROUNDS + 2:
        rounds += 1
        known = {**pinned, **assumed, **{name: v.value for name, v in solved.items()}}
        symbols = unknown_inputs(info, plan, known)
        predicted = engine.predict(source, class_name, {**plan.kwargs, **symbols}, config=plan.config)
        inputs: dict[str, None] = {}
        for name, value in symbols.items():
            if isinstance(value, Sym):
                inputs[name] = None
            elif isinstance(value, SymConfig):
                inputs.update(value.reads)  # every field the code read from the config nobody gave
            asked.update(_asked(value))
            none_asked.update(_none_asked(value))
            types.update(_assumed_types(value))
            configs.update(value.context.get("configs", ()) if isinstance(value, SymConfig) else ())
        last = solve_against(predicted, tensors, inputs)
        new = {name: v for name, v in last.values.items() if name not in solved and name not in pinned and name not in assumed}
        solved.update(new)
        if new:
            continue
        # nothing more from the dims: the flags whose truth decided structure, once each
        flags = [name for name in asked if name not in solved and name not in pinned and name not in probed][:MAX_FLAGS]
        probed.update(dict.fromkeys(flags))
        known = {**pinned, **assumed, **{name: v.value for name, v in solved.items()}}
        decided = _probe_flags(engine, source, class_name, info, plan, tensors, known, flags) if flags else {}
        for name, value in decided.items():
            solved[name] = InferredValue(name, value, "the keys it adds or removes")
        if decided:
            continue
        # the values assumed present: None where the checkpoint's keys say so
        nones = [name for name in none_asked if name not in pinned and name not in assumed and name not in none_probed]
        if nones and _probe_nones(engine, source, class_name, info, plan, tensors, known, nones, solved, assumed, configs, none_probed):
            continue
        break
    known = {**pinned, **assumed, **{name: v.value for name, v in solved.items()}}
    for path, accepted in _check_types(engine, source, class_name, info, plan, tensors, known, types).items():
        if accepted:
            assumed[f"{path}.model_type"] = types[path]
        else:  # the keys do not fit the default's model: unknown, as without inference
            assumed[f"{path}.model_type"] = Unknown(f"the checkpoint's keys do not fit `{path}`'s default model type")
            for name in [n for n in solved if n.startswith(path + ".")]:
                del solved[name]
    undetermined = [
        name for name in last.undetermined
        if name not in solved and name not in pinned and not any(s.startswith(name + "[") for s in solved)
    ]
    undetermined += [name for name in assumed if name in none_asked and name not in undetermined]
    return Inference(
        values=solved, undetermined=undetermined, pinned=pinned, plan=plan, assumed=assumed, compound=last.compound
    )


@dataclass(frozen=True)
class _Score:
    mismatched: frozenset[tuple[str, str]]
    unchecked: int
    checked: int  # on key and shape, or on key only
    keys: frozenset[str] = frozenset()  # the model's

    def better(self, other: _Score) -> bool:
        return len(self.mismatched) < len(other.mismatched) and self.unchecked <= other.unchecked


def build(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    known: Mapping[str, Any],
    compound: Mapping[Any, int] | None = None,
) -> PredictedStateDict:
    """The model built with the `known` values, every other input a symbol (so that what is
    assumed present stays so), its symbolic dims made plain: evaluated where `compound` fixes
    them, else unknown."""
    symbols = _inputs(info, plan, known, symbolic=True)
    predicted = engine.predict(source, class_name, {**plan.kwargs, **symbols}, config=plan.config)
    return concretize(predicted, compound or {})


def rebuild(engine: Analyzer, source: str, class_name: str, info: TargetInfo, inference: Inference) -> PredictedStateDict:
    """The model built with what the inference fixed, given and assumed."""
    known = {**inference.pinned, **inference.assumed, **inference.plain}
    return build(engine, source, class_name, info, inference.plan, known, inference.compound)


def concretize(predicted: PredictedStateDict, compound: Mapping[Any, int]) -> PredictedStateDict:
    tensors = {}
    for key, tensor in predicted.tensors.items():
        shape = tensor.shape
        if shape is not None and any(isinstance(d, Sym) for d in shape):
            plain = []
            for d in shape:
                if isinstance(d, Sym):
                    reduced = reduce_expr(d.expr, {}, compound)
                    value = reduced.constant if reduced is not None else None
                    plain.append(value if value is not None and value >= 0 else None)
                else:
                    plain.append(d)
            tensor = dataclasses.replace(tensor, shape=tuple(plain))
        tensors[key] = tensor
    return dataclasses.replace(predicted, tensors=tensors, sym_tensors={}, sym_containers=())


def _score(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    tensors: Mapping[str, Any],
    known: Mapping[str, Any],
) -> _Score | None:
    from ckptlens.engine.compare import compare

    try:
        predicted = build(engine, source, class_name, info, plan, known)
        comparison = compare(predicted, tensors)
    except Exception:  # noqa: BLE001 - a probe that fails proves nothing
        return None
    coverage = comparison.coverage
    return _Score(
        frozenset(mismatched_keys(comparison.findings)), coverage.unchecked, coverage.checked + coverage.keys_only,
        frozenset(predicted.tensors),
    )


MAX_NONES = 6
MAX_GROUP_PROBES = 16
_INDEX = re.compile(r"\.\d+\.")


def _probe_nones(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    tensors: Mapping[str, Any],
    known: Mapping[str, Any],
    names: list[str],
    solved: dict[str, InferredValue],
    assumed: dict[str, Any],
    configs: set[str],
    probed: set[str],
) -> bool:
    """A value assumed present (`config.n_inner`, `config.vision_config`) tried as None: None
    when fewer keys mismatch so (and no more are left unchecked), then reported; present when
    it fits better so. Where both fit alike, a value solved for it is not the checkpoint's to
    say (`n_inner=64` and `None` build the same model): it is kept to build, not reported.
    A value neither solved nor a nested config is tried only when the model mismatches, in
    groups. True when a value was set to None."""
    base = _score(engine, source, class_name, info, plan, tensors, known)
    if base is None:
        return False
    structural = [n for n in names if n in solved or n in configs]
    for name in structural[:MAX_NONES]:
        probed.add(name)
        alt = _score(engine, source, class_name, info, plan, tensors, {**known, name: None})
        if alt is None:
            continue
        if alt.better(base):  # the others are tried again against the model built so
            solved.pop(name, None)
            solved[name] = InferredValue(name, None, "the keys it adds or removes")  # type: ignore[arg-type]
            return True
        if not base.better(alt) and name in solved:
            assumed[name] = solved.pop(name).value
    changed = False
    # the others only while the model mismatches: all of them as None at once, and the group
    # that fits better so halved until the values it takes are found
    rest = [n for n in names if n not in structural[:MAX_NONES]] if base.mismatched else []
    budget = [MAX_GROUP_PROBES]

    def search(group: list[str]) -> list[str]:
        if not group or budget[0] <= 0:
            return []
        budget[0] -= 1
        alt = _score(engine, source, class_name, info, plan, tensors, {**known, **dict.fromkeys(group)})
        if alt is None or not alt.better(base):
            return []
        if len(group) == 1:
            return group
        half = len(group) // 2
        return search(group[:half]) + search(group[half:])

    probed.update(rest)
    for name in search(rest):
        solved[name] = InferredValue(name, None, "the keys it adds or removes")  # type: ignore[arg-type]
        changed = True
    return changed


def _check_types(
    engine: Analyzer,
    source: str,
    class_name: str,
    info: TargetInfo,
    plan: ConstructorPlan,
    tensors: Mapping[str, Any],
    known: Mapping[str, Any],
    types: Mapping[str, str],
) -> dict[str, bool]:
    """Per nested config whose model type was taken from its class's default: whether the
    checkpoint's keys fit the model it builds. Against the model with those parts unknown,
    the default's must check more tensors and add no mismatching key, or one where it checks
    ten times as many and the model has that key's kind elsewhere (`layers.1.mlp.up` where
    `layers.0.mlp.up` fits: a variant of the checkpoint; another model differs in every layer)."""
    if not types:
        return {}

    def rejected(paths: Any) -> dict[str, Any]:
        return {f"{p}.model_type": Unknown("rejected") for p in paths}

    without = _score(engine, source, class_name, info, plan, tensors, {**known, **rejected(types)})
    if without is None:
        return dict.fromkeys(types, False)

    def fits(score: _Score | None) -> bool:
        if score is None or without is None:
            return False
        new = score.mismatched - without.mismatched
        gain = score.checked - without.checked
        if gain <= 0 or len(new) > 1:
            return False
        if not new:
            return True
        ((_code, key),) = new
        kind = _INDEX.sub(".*.", key)
        return gain >= 10 and sum(1 for k in score.keys if _INDEX.sub(".*.", k) == kind) >= 2

    if fits(_score(engine, source, class_name, info, plan, tensors, known)):
        return dict.fromkeys(types, True)
    if len(types) == 1:
        return dict.fromkeys(types, False)
    out = {}
    for path in types:
        others = [p for p in types if p != path]
        out[path] = fits(_score(engine, source, class_name, info, plan, tensors, {**known, **rejected(others)}))
    return out


def solve_against(predicted: PredictedStateDict, tensors: Mapping[str, Any], inputs: Mapping[str, None] | None = None) -> Inference:
    """Solve the symbolic prediction's equations against the checkpoint's `tensors`. Every
    symbol of a dim or a length, and every one of `inputs`, is inferred or undetermined."""
    equations = equations_of(predicted, tensors)
    env: dict[str, int] = {}
    where: dict[str, str] = {}
    containers: dict[str, tuple[str, str]] = {}
    mentioned: dict[str, None] = dict(inputs or {})
    for eq in equations:
        mentioned.update(dict.fromkeys(sorted(eq.expr.symbols())))
    for tensor in [*predicted.tensors.values(), *predicted.sym_tensors.values()]:
        for d in tensor.shape or ():
            if isinstance(d, Sym):
                mentioned.update(dict.fromkeys(sorted(d.expr.symbols())))
    while True:
        candidates: dict[str, dict[int, list[Equation]]] = {}
        for eq in equations:
            solution = solve(eq.expr, eq.value, env)
            if solution is not None:
                candidates.setdefault(solution[0], {}).setdefault(solution[1], []).append(eq)
        progress = False
        for symbol, by_value in candidates.items():
            ranked = sorted(by_value.items(), key=lambda kv: -len(kv[1]))
            if len(ranked) > 1 and len(ranked[0][1]) == len(ranked[1][1]):
                continue  # as many sites say one value as another: never guess
            value, support = ranked[0]
            env[symbol] = value
            where[symbol] = _where(support[0], tensors)
            lengths = [eq for eq in support if eq.dim is None and eq.model_site is not None]
            if lengths:
                containers[symbol] = (str(lengths[0].model_site), lengths[0].site)
            progress = True
        if not progress:
            break
    compound = _solve_compound(equations, env)
    out = Inference(compound=compound)
    for symbol in mentioned:
        if symbol in env:
            out.values[symbol] = InferredValue(symbol, env[symbol], where[symbol], containers.get(symbol))
        else:
            out.undetermined.append(symbol)
    return out


def _solve_compound(equations: list[Equation], env: Mapping[str, int]) -> dict[Any, int]:
    """The products and quotients of unknowns the equations fix as a whole, the value most
    sites agree on (a tie: unknown), over rounds (one fixed may leave another alone)."""
    compound: dict[Any, int] = {}
    while True:
        candidates: dict[Any, dict[int, int]] = {}
        for eq in equations:
            found = solve_compound(eq.expr, eq.value, env, compound)
            if found is not None:
                by_value = candidates.setdefault(found[0], {})
                by_value[found[1]] = by_value.get(found[1], 0) + 1
        progress = False
        for term, by_value in candidates.items():
            ranked = sorted(by_value.items(), key=lambda kv: -kv[1])
            if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
                continue
            compound[term] = ranked[0][0]
            progress = True
        if not progress or len(compound) > 256:
            return compound


def _where(eq: Equation, tensors: Mapping[str, Any]) -> str:
    if eq.dim is None:
        return f"{eq.site}.0 … {eq.site}.{eq.value - 1}" if eq.value > 1 else f"{eq.site}.0"
    shape = getattr(tensors.get(eq.site), "shape", None)
    return f"{eq.site} [{', '.join(str(d) for d in shape)}]" if shape is not None else eq.site


def equations_of(predicted: PredictedStateDict, tensors: Mapping[str, Any]) -> list[Equation]:
    """Every symbolic dim and container length of the symbolic prediction, against the
    checkpoint key it sits at (after the checkpoint's prefix and renames)."""
    from ckptlens.engine.compare import compare

    plain = dataclasses.replace(
        predicted,
        tensors={k: dataclasses.replace(t, shape=_plain_shape(t.shape)) for k, t in predicted.tensors.items()},
        findings=(),
    )
    comparison = compare(plain, tensors)
    to_checkpoint = {model: ckpt for ckpt, model in comparison.mapping.mapping.items()}
    renames = sorted(comparison.renames, key=lambda pair: -len(pair[1]))
    prefix = comparison.prefix

    def translate(key: str) -> str:
        if key in to_checkpoint:
            return to_checkpoint[key]
        for ckpt_prefix, model_prefix in renames:
            if key == model_prefix or key.startswith(model_prefix + "."):
                key = ckpt_prefix + key[len(model_prefix) :]
                break
        if prefix is not None:
            if prefix.add:
                if not key.startswith(prefix.add):
                    return key
                key = key[len(prefix.add) :]
            key = prefix.strip + key
        return key

    equations: list[Equation] = []
    for key, tensor in [*predicted.tensors.items(), *predicted.sym_tensors.items()]:
        shape = tensor.shape
        if shape is None or not any(isinstance(d, Sym) for d in shape):
            continue
        site = translate(key)
        info = tensors.get(site)
        stored = getattr(info, "shape", None)
        if stored is None or len(stored) != len(shape):
            continue
        for i, (d, value) in enumerate(zip(shape, stored, strict=True)):
            if isinstance(d, Sym):
                equations.append(Equation(d.expr, int(value), site, i))
        if len(equations) > MAX_EQUATIONS:
            break
    keys = list(tensors)
    for container in predicted.sym_containers:
        if not container.complete:
            continue
        site = translate(container.prefix) if container.prefix else ""
        length = _length(keys, site)
        if length is None:
            continue
        expr = container.count.mul(Expr.const(container.per))
        expr = expr.add(Expr.const(container.head)) if expr is not None else None
        if expr is not None:
            equations.append(Equation(expr, length, site, None, container.prefix))
    return equations


def unfaithful_lengths(inference: Inference, predicted: PredictedStateDict, tensors: Mapping[str, Any]) -> list[str]:
    """The lengths read from a container that the model, built with them, does not reproduce:
    a loop whose iterations add different numbers of items (`if i > 0: layers.append(Down())`)
    has a first iteration that does not tell its length. Such values are not the checkpoint's."""
    bad = []
    keys = list(tensors)
    for name, value in inference.values.items():
        if value.container is None:
            continue
        model_site, checkpoint_site = value.container
        lead = model_site + "." if model_site else ""
        indices = {k[len(lead) :].split(".", 1)[0] for k in predicted.tensors if k.startswith(lead)}
        if not indices:
            continue  # still unknown there: nothing is checked under it
        if not all(i.isdigit() for i in indices) or len(indices) != _length(keys, checkpoint_site):
            bad.append(name)
    return bad


def _length(keys: list[str], prefix: str) -> int | None:
    """The number of items of the container at `prefix` in the checkpoint: its indices must
    run 0 .. n-1 without a gap, and be all it holds."""
    lead = prefix + "." if prefix else ""
    indices: set[int] = set()
    for key in keys:
        if not key.startswith(lead):
            continue
        head = key[len(lead) :].split(".", 1)[0]
        if not head.isdigit():
            return None
        indices.add(int(head))
    if not indices:
        return None
    length = max(indices) + 1
    return length if len(indices) == length else None


def _plain_shape(shape: Any) -> Any:
    if shape is None:
        return None
    return tuple(None if isinstance(d, Sym) else d for d in shape)


def inferred_finding(inference: Inference, predicted: PredictedStateDict) -> Finding | None:
    """`inferred` (information): the values the checkpoint fixed, and where each was read."""
    if not inference.values:
        return None
    values = tuple(InferredValueRead(v.name, v.value, v.where) for v in inference.values.values())
    return Inferred(values, tuple(inference.undetermined)).at(predicted.origin)


def mismatched_keys(findings: Sequence[Finding]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for f in findings:
        if f.code in MISMATCH_CODES:
            keys.update((f.code, k) for k in (*f.model_keys, *f.checkpoint_keys))
            if not f.model_keys and not f.checkpoint_keys:
                keys.add((f.code, f.checkpoint_prefix or f.model_prefix or ""))
    return keys
