"""Compare a predicted state_dict with a checkpoint's keys and shapes (DESIGN "Compare").

1. find the prefix change (a wrapper's leading path removed, or the model's leading path added)
   that lines up the most keys;
2. find renamed submodules: a missing model subtree and an unexpected checkpoint subtree holding
   the same (relative key, shape) set;
3. report what is left as missing / unexpected / shape-mismatched keys, grouped by the source
   line that explains them;
4. build the key mapping that makes `load_state_dict` accept the checkpoint.

Keys under unknown parts of the model are never reported: checkpoint keys that land there are
presumed to belong there and kept in the mapping.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ckptlens.api import KeyMapping
from ckptlens.checkpoint.index import TensorInfo
from ckptlens.engine.keys import common_leading_path, is_under, leading_paths, summarize_keys
from ckptlens.engine.model import PredictedStateDict, PredictedTensor, Shape
from ckptlens.findings import (
    CUDA_TENSORS,
    DTYPE_DIFFERS,
    KEY_PREFIX,
    MISSING_KEY,
    RENAMED_MODULE,
    SHAPE_MISMATCH,
    UNEXPECTED_KEY,
    Finding,
    Severity,
    SourceRange,
)

# Leading attribute names that wrappers add around a model, and who adds them.
WRAPPERS: dict[str, str] = {
    "module": "a DataParallel/DistributedDataParallel wrapper",
    "_orig_mod": "torch.compile",
    "model": "a Lightning module or another module wrapping this one",
    "_fsdp_wrapped_module": "an FSDP wrapper",
    "_forward_module": "a Lightning/Fabric strategy wrapper",
    "_checkpoint_wrapped_module": "an activation-checkpointing wrapper",
}

FLOAT_DTYPES = frozenset(
    {
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
        "float8_e8m0fnu",
        "half",
        "float",
        "double",
    }
)

MESSAGE_KEYS = 6  # patterns listed in a message before "and N more"


@dataclass(frozen=True)
class PrefixChange:
    """How checkpoint keys are brought to the model's namespace before renames: `strip` is
    removed from the keys that start with it, then `add` is prepended to every key. Both carry
    their trailing dot; at most one of them is non-empty."""

    strip: str = ""
    add: str = ""

    def apply(self, key: str) -> str:
        if self.strip and key.startswith(self.strip):
            key = key[len(self.strip) :]
        return self.add + key


@dataclass
class Comparison:
    findings: list[Finding]
    mapping: KeyMapping
    matched: int  # known model keys the checkpoint fills with a compatible shape
    total: int  # model keys that are known (not under unknown parts)
    prefix: PrefixChange | None  # what was stripped/added, for the code generator
    # (checkpoint_prefix, model_prefix) pairs, no trailing dots, in the prefix-changed space;
    # a pair may name a single key (a renamed bare parameter).
    renames: list[tuple[str, str]]


def shapes_compatible(model: Shape, checkpoint: Sequence[int] | None) -> bool:
    """An unknown shape or dim is compatible with anything; known ranks and dims must agree."""
    if model is None or checkpoint is None:
        return True
    if len(model) != len(checkpoint):
        return False
    return all(m is None or m == c for m, c in zip(model, checkpoint, strict=True))


def format_shape(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def compare(
    predicted: PredictedStateDict,
    tensors: Mapping[str, TensorInfo],
    *,
    extra_prefixes: Sequence[str] = (),
) -> Comparison:
    return _Comparer(predicted, tensors, extra_prefixes).run()


class _Comparer:
    def __init__(
        self,
        predicted: PredictedStateDict,
        tensors: Mapping[str, TensorInfo],
        extra_prefixes: Sequence[str],
    ) -> None:
        self.predicted = predicted
        self.tensors = tensors
        self.raw_keys = list(tensors)
        self.known: dict[str, PredictedTensor] = {
            k: t for k, t in predicted.tensors.items() if not predicted.is_unknown(k)
        }
        self.model_order = {k: i for i, k in enumerate(predicted.tensors)}
        self.file_order = {k: i for i, k in enumerate(self.raw_keys)}
        self.named_prefixes = tuple(
            p.strip(".") for p in (*predicted.base_model_prefixes, *extra_prefixes) if p.strip(".")
        )

    # -- the whole comparison ---------------------------------------------------------------

    def run(self) -> Comparison:
        prefix, carrying = self._choose_prefix()
        transformed = {raw: prefix.apply(raw) if prefix else raw for raw in self.raw_keys}
        renames = self._find_renames(transformed)
        rename_of = {key: model_key for pair in renames for key, model_key in pair.keys}

        mapping: dict[str, str] = {}
        dropped: list[str] = []
        filled: set[str] = set()
        targets: set[str] = set()
        mismatched: list[tuple[str, str]] = []  # (raw checkpoint key, model key)
        unexpected: list[tuple[str, str]] = []  # (raw checkpoint key, key in the model's space)
        for raw in self.raw_keys:
            key = transformed[raw]
            key = rename_of.get(key, key)
            info = self.tensors[raw]
            if key in targets:  # never two checkpoint keys for one model key
                unexpected.append((raw, key))
                dropped.append(raw)
            elif key in self.known:
                if shapes_compatible(self.known[key].shape, info.shape):
                    mapping[raw] = key
                    filled.add(key)
                    targets.add(key)
                else:
                    mismatched.append((raw, key))
                    dropped.append(raw)
                    targets.add(key)
            elif self.predicted.is_unknown(key):
                mapping[raw] = key
                targets.add(key)
            else:
                unexpected.append((raw, key))
                dropped.append(raw)
        missing = [k for k in self.known if k not in filled]
        absent = [k for k in self.known if k not in targets]

        findings: list[Finding] = []
        if prefix is not None:
            findings.append(self._prefix_finding(prefix, carrying, transformed))
        findings.extend(self._rename_finding(pair) for pair in renames)
        findings.extend(self._mismatch_findings(mismatched))
        findings.extend(self._missing_findings(absent))
        findings.extend(self._unexpected_findings(unexpected))
        findings.extend(self._device_findings())
        findings.extend(self._dtype_findings(mapping))
        return Comparison(
            findings=findings,
            mapping=KeyMapping(mapping=mapping, dropped=dropped, missing=missing),
            matched=len(filled),
            total=len(self.known),
            prefix=prefix,
            renames=[(pair.checkpoint_prefix, pair.model_prefix) for pair in renames],
        )

    # -- 1. prefix --------------------------------------------------------------------------

    def _score(self, transform: Callable[[str], str]) -> tuple[int, int]:
        """(keys that land on a compatible model key or under an unknown part, name matches)."""
        fitting = names = 0
        for raw in self.raw_keys:
            key = transform(raw)
            tensor = self.known.get(key)
            if tensor is not None:
                names += 1
                if shapes_compatible(tensor.shape, self.tensors[raw].shape):
                    fitting += 1
            elif self.predicted.is_unknown(key):
                fitting += 1
        return fitting, names

    def _lands(self, key: str) -> bool:
        return key in self.known or self.predicted.is_unknown(key)

    def _wrapper_stacks(self, keys: Iterable[str]) -> list[str]:
        """Leading paths made only of wrapper names and named prefixes (`module._orig_mod`)."""
        named = [p.split(".") for p in self.named_prefixes]
        found: dict[str, None] = {}
        for key in keys:
            parts = key.split(".")
            i = 0
            while i < len(parts) - 1:
                if parts[i] in WRAPPERS:
                    i += 1
                else:
                    for name in named:
                        if parts[i : i + len(name)] == name and i + len(name) < len(parts):
                            i += len(name)
                            break
                    else:
                        break
                found.setdefault(".".join(parts[:i]))
        return list(found)

    def _choose_prefix(self) -> tuple[PrefixChange | None, list[str]]:
        """The prefix change that lines up the most keys, and the checkpoint keys it touches."""
        if not self.raw_keys:
            return None, []
        best: PrefixChange | None = None
        best_score = self._score(lambda k: k)
        best_carrying: list[str] = []
        identity_hits = {raw for raw in self.raw_keys if self._lands(raw)}

        strips = list(self._wrapper_stacks(self.raw_keys))
        strips += [p for p in self.named_prefixes if p not in strips]
        common = common_leading_path(self.raw_keys)
        strips += [p for p in (*leading_paths(common + ".x"),) if common and p not in strips]
        for path in strips:
            change = PrefixChange(strip=path + ".")
            carrying = [raw for raw in self.raw_keys if raw.startswith(change.strip)]
            others = len(self.raw_keys) - len(carrying)
            # Every key carries it, or all but a minority that fits nowhere anyway.
            if not carrying or others >= len(carrying):
                continue
            if any(raw in identity_hits for raw in self.raw_keys if not raw.startswith(change.strip)):
                continue
            score = self._score(change.apply)
            if score > best_score:
                best, best_score, best_carrying = change, score, carrying

        known_keys = list(self.known)
        adds = self._wrapper_stacks(known_keys)
        adds += [p for p in self.named_prefixes if p not in adds]
        model_common = common_leading_path(known_keys) if known_keys else ""
        adds += [p for p in leading_paths(model_common + ".x") if model_common and p not in adds]
        if not identity_hits:
            for path in adds:
                change = PrefixChange(add=path + ".")
                if any(raw.startswith(change.add) for raw in self.raw_keys):
                    continue
                score = self._score(change.apply)
                if score > best_score:
                    best, best_score, best_carrying = change, score, list(self.raw_keys)
        return best, best_carrying

    def _prefix_finding(
        self, prefix: PrefixChange, carrying: list[str], transformed: Mapping[str, str]
    ) -> Finding:
        model_keys = sorted(
            {transformed[raw] for raw in carrying if transformed[raw] in self.predicted.tensors},
            key=self.model_order.__getitem__,
        )
        if prefix.strip:
            path = prefix.strip[:-1]
            quoted = f'"{prefix.strip}"'
            if len(carrying) == len(self.raw_keys):
                lead = f"every checkpoint key starts with {quoted}"
            else:
                lead = f"{len(carrying)} of {len(self.raw_keys)} checkpoint keys start with {quoted}"
            message = f"{lead} (saved from {self._describe_stack(path)}); strip it before load_state_dict"
            return self._finding(
                KEY_PREFIX,
                self.predicted.origin,
                message,
                model_keys=model_keys,
                checkpoint_keys=carrying,
                checkpoint_prefix=path,
            )
        path = prefix.add[:-1]
        message = (
            f'the checkpoint keys lack the model\'s leading "{prefix.add}" (saved from the '
            f"inner module `{path}` itself); add it before load_state_dict"
        )
        return self._finding(
            KEY_PREFIX,
            self.predicted.origin,
            message,
            model_keys=model_keys,
            checkpoint_keys=carrying,
            model_prefix=path,
            checkpoint_prefix="",
        )

    def _describe_stack(self, path: str) -> str:
        parts = path.split(".")
        described: list[str] = []
        i = 0
        while i < len(parts):
            if parts[i] in WRAPPERS:
                wrapper = WRAPPERS[parts[i]]
                described.append("a torch.compile'd model" if parts[i] == "_orig_mod" else wrapper)
                i += 1
                continue
            for name in self.named_prefixes:
                size = name.count(".") + 1
                if ".".join(parts[i : i + size]) == name:
                    described.append(f"a model that holds this one as `{name}`")
                    i += size
                    break
            else:
                described.append(f"a module that holds this one as `{'.'.join(parts[i:])}`")
                break
        return " around ".join(described)

    # -- 2. renames -------------------------------------------------------------------------

    def _find_renames(self, transformed: Mapping[str, str]) -> list[_Rename]:
        named = set(transformed.values())
        missing = [k for k in self.known if k not in named]
        checkpoint_shape: dict[str, tuple[int, ...]] = {}
        raw_of: dict[str, str] = {}
        for raw, key in transformed.items():
            checkpoint_shape[key] = tuple(self.tensors[raw].shape)
            raw_of[key] = raw
        unexpected = [k for k in checkpoint_shape if not self._lands(k)]
        if not missing or not unexpected:
            return []

        model_subtrees = _complete_subtrees(
            missing, list(self.predicted.tensors), [u.prefix for u in self.predicted.unknown]
        )
        checkpoint_subtrees = _complete_subtrees(unexpected, list(checkpoint_shape), [])
        by_signature: dict[frozenset[str], list[str]] = defaultdict(list)
        for q, keys in checkpoint_subtrees.items():
            if len(keys) >= 2:
                by_signature[_signature(q, keys)].append(q)

        # Phase A: subtrees of two or more tensors, largest first, then the most similar names.
        candidates: dict[tuple[frozenset[str], frozenset[str]], tuple[str, str]] = {}
        for p, keys in model_subtrees.items():
            if len(keys) < 2:
                continue
            for q in by_signature.get(_signature(p, keys), ()):
                if not all(
                    shapes_compatible(
                        self.known[k].shape, checkpoint_shape[_rebase(k, p, q)]
                    )
                    for k in keys
                ):
                    continue
                ident = (frozenset(keys), frozenset(checkpoint_subtrees[q]))
                kept = candidates.get(ident)
                if kept is None or len(p) < len(kept[0]):  # the outermost names say it best
                    candidates[ident] = (p, q)
        cheap = len(candidates) > 5000
        ranked = sorted(
            candidates.values(),
            key=lambda pq: (
                -len(model_subtrees[pq[0]]),
                -name_similarity(pq[0], pq[1], cheap=cheap),
                self.model_order[model_subtrees[pq[0]][0]],
                pq[1],
            ),
        )
        used_model: set[str] = set()
        used_checkpoint: set[str] = set()
        renames: list[_Rename] = []
        for p, q in ranked:
            keys = model_subtrees[p]
            other = checkpoint_subtrees[q]
            if any(k in used_model for k in keys) or any(k in used_checkpoint for k in other):
                continue
            used_model.update(keys)
            used_checkpoint.update(other)
            renames.append(self._rename(p, q, keys, raw_of))

        # Phase B: a lone tensor (a bare nn.Parameter), only when no other pairing is possible.
        renames.extend(
            self._single_renames(
                [k for k in missing if k not in used_model],
                [k for k in unexpected if k not in used_checkpoint],
                model_subtrees,
                checkpoint_subtrees,
                checkpoint_shape,
                raw_of,
            )
        )
        renames.sort(key=lambda r: self.model_order[r.keys[0][1]])
        return renames

    def _single_renames(
        self,
        missing: list[str],
        unexpected: list[str],
        model_subtrees: Mapping[str, list[str]],
        checkpoint_subtrees: Mapping[str, list[str]],
        checkpoint_shape: Mapping[str, tuple[int, ...]],
        raw_of: Mapping[str, str],
    ) -> list[_Rename]:
        # Only tensors that are alone in their largest wholly-missing / wholly-unexpected subtree.
        lone_missing = [k for k in missing if _outermost_size(k, model_subtrees) == 1]
        lone_unexpected = [k for k in unexpected if _outermost_size(k, checkpoint_subtrees) == 1]
        if not lone_missing or not lone_unexpected:
            return []
        by_shape: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for u in lone_unexpected:
            by_shape[checkpoint_shape[u]].append(u)
        options: dict[str, list[str]] = {}
        chosen_by: dict[str, int] = defaultdict(int)
        for m in lone_missing:
            shape = self.known[m].shape
            if shape is not None and all(d is not None for d in shape):
                found = list(by_shape.get(tuple(d for d in shape if d is not None), ()))
            else:
                found = [u for u in lone_unexpected if shapes_compatible(shape, checkpoint_shape[u])]
            options[m] = found
            for u in found:
                chosen_by[u] += 1
        renames: list[_Rename] = []
        for m, found in options.items():
            if len(found) != 1 or chosen_by[found[0]] != 1:
                continue
            u = found[0]
            p, q = m, u
            # Name the rename at the outermost level that still holds just this tensor.
            m_parts, u_parts = m.split("."), u.split(".")
            for k in range(1, min(len(m_parts), len(u_parts))):
                if m_parts[-k:] != u_parts[-k:]:
                    break
                p_try, q_try = ".".join(m_parts[:-k]), ".".join(u_parts[:-k])
                if model_subtrees.get(p_try) == [m] and checkpoint_subtrees.get(q_try) == [u]:
                    p, q = p_try, q_try
                else:
                    break
            renames.append(self._rename(p, q, [m], raw_of))
        return renames

    def _rename(self, p: str, q: str, keys: list[str], raw_of: Mapping[str, str]) -> _Rename:
        pairs = tuple((_rebase(k, p, q), k) for k in keys)
        return _Rename(model_prefix=p, checkpoint_prefix=q, keys=pairs, raw=raw_of)

    def _rename_finding(self, rename: _Rename) -> Finding:
        p, q = rename.model_prefix, rename.checkpoint_prefix
        module = self.predicted.modules.get(p)
        if module is not None:
            where = module.origin
        elif p in self.predicted.tensors:
            where = self.predicted.tensors[p].origin
        else:
            where = self.predicted.tensors[rename.keys[0][1]].origin
        name = f"self.{p}" if "." not in p else p
        count = len(rename.keys)
        what = "these weights" if count > 1 or module is not None else "this tensor"
        message = f"`{name}`: the checkpoint holds {what} as `{q}`"
        if count > 1:
            message += f" ({count} tensors)"
        checkpoint_keys = sorted((rename.raw[c] for c, _ in rename.keys), key=self.file_order.__getitem__)
        return self._finding(
            RENAMED_MODULE,
            where,
            message,
            model_keys=[m for _, m in rename.keys],
            checkpoint_keys=checkpoint_keys,
            model_prefix=p,
            checkpoint_prefix=q,
        )

    # -- 3. what is left --------------------------------------------------------------------

    def _mismatch_findings(self, mismatched: list[tuple[str, str]]) -> list[Finding]:
        groups: dict[SourceRange, list[tuple[str, str]]] = defaultdict(list)
        for raw, key in mismatched:
            groups[self.known[key].origin].append((raw, key))
        findings = []
        for origin, pairs in groups.items():
            pairs.sort(key=lambda rk: self.model_order[rk[1]])
            by_shapes: dict[tuple[str, str], list[str]] = defaultdict(list)
            for raw, key in pairs:
                shapes = (format_shape(self.tensors[raw].shape), format_shape(self.known[key].shape))
                by_shapes[shapes].append(key)
            parts = [
                f"size mismatch for {summarize_keys(keys, MESSAGE_KEYS)}: copying a param with shape "
                f"{ck} from checkpoint, the shape in current model is {model}"
                for (ck, model), keys in by_shapes.items()
            ]
            message = "; ".join(parts[:MESSAGE_KEYS])
            if len(parts) > MESSAGE_KEYS:
                message += f"; and {len(parts) - MESSAGE_KEYS} more"
            data = tuple(
                (key, (tuple(self.tensors[raw].shape), self.known[key].shape)) for raw, key in pairs
            )
            findings.append(
                self._finding(
                    SHAPE_MISMATCH,
                    origin,
                    message,
                    model_keys=[k for _, k in pairs],
                    checkpoint_keys=sorted((r for r, _ in pairs), key=self.file_order.__getitem__),
                    data=(("shapes", data),),
                )
            )
        return findings

    def _missing_findings(self, absent: list[str]) -> list[Finding]:
        groups: dict[SourceRange, list[str]] = defaultdict(list)
        for key in absent:
            groups[self.known[key].origin].append(key)
        return [
            self._finding(
                MISSING_KEY,
                origin,
                f"missing key(s) in checkpoint: {summarize_keys(keys, MESSAGE_KEYS)}",
                model_keys=keys,
            )
            for origin, keys in groups.items()
        ]

    def _unexpected_findings(self, unexpected: list[tuple[str, str]]) -> list[Finding]:
        groups: dict[SourceRange, list[str]] = defaultdict(list)
        for raw, key in unexpected:
            groups[self._owner_origin(key)].append(raw)
        return [
            self._finding(
                UNEXPECTED_KEY,
                origin,
                f"unexpected key(s) in checkpoint: {summarize_keys(raws, MESSAGE_KEYS)}",
                checkpoint_keys=raws,
            )
            for origin, raws in groups.items()
        ]

    def _owner_origin(self, key: str) -> SourceRange:
        """The origin of the deepest model module that would hold `key`; else the class."""
        for path in reversed(leading_paths(key)):
            module = self.predicted.modules.get(path)
            if module is not None:
                return module.origin
        return self.predicted.origin

    # -- 4. device and dtype notes ----------------------------------------------------------

    def _device_findings(self) -> list[Finding]:
        devices: dict[str, int] = defaultdict(int)
        for info in self.tensors.values():
            if info.device and info.device != "cpu":
                devices[info.device] += 1
        if not devices:
            return []
        count = sum(devices.values())
        names = ", ".join(devices)
        need = "CUDA" if all(d.startswith("cuda") for d in devices) else "that device"
        plural = "tensor was" if count == 1 else "tensors were"
        message = (
            f"{count} checkpoint {plural} saved from {names}: pass map_location='cpu' "
            f"to torch.load on a machine without {need}"
        )
        return [self._finding(CUDA_TENSORS, self.predicted.origin, message, Severity.INFORMATION)]

    def _dtype_findings(self, mapping: Mapping[str, str]) -> list[Finding]:
        held: dict[str, int] = defaultdict(int)
        into: dict[str, None] = {}
        for raw, key in mapping.items():
            model = self.known.get(key)
            dtype = self.tensors[raw].dtype
            if model is None or dtype not in FLOAT_DTYPES or model.dtype not in FLOAT_DTYPES:
                continue
            if dtype != model.dtype:
                held[dtype] += 1
                into.setdefault(model.dtype)
        if not held:
            return []
        holds = " and ".join(f"{n} {dtype}" for dtype, n in held.items())
        plural = "tensor" if sum(held.values()) == 1 else "tensors"
        message = (
            f"checkpoint holds {holds} {plural}; load_state_dict copies them into the model's "
            f"{'/'.join(into)} tensors"
        )
        return [self._finding(DTYPE_DIFFERS, self.predicted.origin, message, Severity.INFORMATION)]

    # -- helpers ----------------------------------------------------------------------------

    def _finding(
        self,
        code: str,
        where: SourceRange,
        message: str,
        severity: Severity = Severity.ERROR,
        *,
        model_keys: Sequence[str] = (),
        checkpoint_keys: Sequence[str] = (),
        model_prefix: str | None = None,
        checkpoint_prefix: str | None = None,
        data: tuple[tuple[str, object], ...] = (),
    ) -> Finding:
        return Finding(
            code=code,
            severity=severity,
            range=where,
            message=message,
            model_keys=tuple(model_keys),
            checkpoint_keys=tuple(checkpoint_keys),
            model_prefix=model_prefix,
            checkpoint_prefix=checkpoint_prefix,
            data=data,
        )


@dataclass(frozen=True)
class _Rename:
    model_prefix: str
    checkpoint_prefix: str
    keys: tuple[tuple[str, str], ...]  # (checkpoint key, model key), prefix-changed space
    raw: Mapping[str, str]  # prefix-changed checkpoint key -> key in the file


def _rebase(key: str, old: str, new: str) -> str:
    """`key` under `old` moved under `new` (old == key for a lone tensor)."""
    return new + key[len(old) :]


def _signature(prefix: str, keys: Iterable[str]) -> frozenset[str]:
    return frozenset(k[len(prefix) :] for k in keys)


def _complete_subtrees(
    candidates: Sequence[str], all_keys: Sequence[str], unknown: Sequence[str]
) -> dict[str, list[str]]:
    """Every dotted path (and every key itself) whose whole subtree of `all_keys` lies in
    `candidates`, with that subtree in order. Paths holding an unknown part are left out."""
    counts: dict[str, int] = defaultdict(int)
    for key in all_keys:
        for path in leading_paths(key):
            counts[path] += 1
    chosen = set(candidates)
    subtrees: dict[str, list[str]] = defaultdict(list)
    for key in candidates:
        for path in (*leading_paths(key), key):
            subtrees[path].append(key)
    complete: dict[str, list[str]] = {}
    for path, keys in subtrees.items():
        whole = counts.get(path, 0) + (1 if path in chosen else 0)
        if len(keys) != whole:
            continue
        if any(is_under(u, path) or is_under(path, u) for u in unknown):
            continue
        complete[path] = keys
    return complete


def _outermost_size(key: str, subtrees: Mapping[str, list[str]]) -> int:
    for path in (*leading_paths(key), key):
        keys = subtrees.get(path)
        if keys is not None:
            return len(keys)
    return 0


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _normalize(path: str) -> str:
    words: list[str] = []
    for token in _TOKEN.findall(path):
        if token.isdigit() and int(token) < len(_NUMBER_WORDS):
            words.append(_NUMBER_WORDS[int(token)])
        else:
            words.append(token.lower())
    return "".join(words)


def name_similarity(a: str, b: str, *, cheap: bool = False) -> float:
    """How alike two module paths read: 1.0 for `layer_1`~`layer1`, high for
    `conv1`~`convolution_one`. `cheap` skips difflib (for very many candidate pairs)."""
    na, nb = _normalize(a), _normalize(b)
    if na == nb:
        return 1.0
    if cheap:
        common = 0
        for x, y in zip(na, nb, strict=False):
            if x != y:
                break
            common += 1
        return common / max(len(na), len(nb), 1) * 0.9
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio() * 0.99
