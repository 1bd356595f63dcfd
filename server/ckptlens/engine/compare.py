"""Compare a predicted state_dict with a checkpoint's keys and shapes (DESIGN "Compare").

1. find the prefix change (a wrapper's leading path removed, or the model's leading path added)
   that lines up the most keys;
2. find renamed submodules: a missing model subtree and an unexpected checkpoint subtree holding
   the same (relative key, shape) set;
3. report what is left as missing / unexpected / shape-mismatched keys, grouped by the source
   line that explains them;
4. build the key mapping that makes `load_state_dict` accept the checkpoint.

Keys under unknown parts of the model are never reported: checkpoint keys that land there are
presumed to belong there and kept in the mapping."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ckptlens.checkpoint.index import TensorInfo
from ckptlens.engine import messages as msg
from ckptlens.engine.compare_renames import (
    Matcher,
    Rename,
    complete_subtrees,
    fully_known,
    rebase,
    signature,
)
from ckptlens.engine.keys import common_leading_path, leading_paths
from ckptlens.engine.model import (
    Coverage,
    KeyMapping,
    PredictedStateDict,
    PredictedTensor,
    UnknownPart,
    shapes_compatible,
)
from ckptlens.findings import Finding, Severity, SourceRange

# Leading attribute names that wrappers add around a model, and who adds them.
WRAPPERS: dict[str, str] = {
    "module": "a DataParallel/DistributedDataParallel wrapper",
    "_orig_mod": "a torch.compile'd model",
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


@dataclass(frozen=True)
class Comparison:
    """What `compare` found: findings (the five mismatch codes, plus `cuda-tensors` and
    `dtype-differs` notes), the key mapping, and the data the mapping code is written from."""

    findings: tuple[Finding, ...]
    mapping: KeyMapping
    matched: int  # known model keys the checkpoint fills with a compatible shape
    total: int  # model keys that are known (not under unknown parts)
    prefix: PrefixChange | None  # what was stripped/added, for the code generator
    # (checkpoint_prefix, model_prefix) pairs, no trailing dots, in the prefix-changed space;
    # a pair may name a single key (a renamed bare parameter).
    renames: tuple[tuple[str, str], ...]
    coverage: Coverage = Coverage()


def compare(
    predicted: PredictedStateDict,
    tensors: Mapping[str, TensorInfo],
    *,
    extra_prefixes: Sequence[str] = (),
    unverified_severity: Severity = Severity.WARNING,
) -> Comparison:
    """Compare a predicted state_dict with a checkpoint's tensors (key -> shape/dtype/device,
    in file order). `extra_prefixes` are further leading paths worth trying to strip or add
    (besides the known wrappers and the model's `base_model_prefixes`). Checkpoint tensors
    left unchecked under unresolved parts are reported as `unverified`, at `unverified_severity`."""
    return _Comparer(predicted, tensors, extra_prefixes, unverified_severity).run()


class _Comparer:
    def __init__(
        self,
        predicted: PredictedStateDict,
        tensors: Mapping[str, TensorInfo],
        extra_prefixes: Sequence[str],
        unverified_severity: Severity = Severity.WARNING,
    ) -> None:
        self.predicted = predicted
        self.unverified_severity = unverified_severity
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
        # checkpoint keys nothing compared, by the part of the model that could not be resolved
        unchecked: dict[UnknownPart, list[str]] = defaultdict(list)
        keys_only = 0
        for raw in self.raw_keys:
            key = transformed[raw]
            key = rename_of.get(key, key)
            info = self.tensors[raw]
            if key in targets:  # never two checkpoint keys for one model key
                unexpected.append((raw, key))
                dropped.append(raw)
            elif key in self.known:
                shape = self.known[key].shape
                if shapes_compatible(shape, info.shape):
                    mapping[raw] = key
                    filled.add(key)
                    targets.add(key)
                    if shape is None or None in shape:
                        keys_only += 1
                else:
                    mismatched.append((raw, key))
                    dropped.append(raw)
                    targets.add(key)
            elif (part := self.predicted.unknown_part(key)) is not None:
                mapping[raw] = key
                targets.add(key)
                unchecked[part].append(raw)
            elif (part := self.predicted.open_part(key)) is not None:
                # the module may hold keys the analysis could not follow: kept, not judged
                mapping[raw] = key
                targets.add(key)
                unchecked[part].append(raw)
            else:
                unexpected.append((raw, key))
                dropped.append(raw)
        missing = [k for k in self.known if k not in filled]
        # A tied tensor stored once (safetensors, save_pretrained) is not missing: the loader
        # re-ties it from the key it shares its storage with.
        retied = [
            k for k in self.known
            if k not in targets and self.predicted.tied.get(k) in filled
        ]
        # keys the model's own loader accepts as absent (transformers' ignore lists)
        optional = [
            k for k in self.known
            if k not in targets and k not in retied and k in self.predicted.optional
        ]
        absent = [k for k in self.known if k not in targets and k not in retied and k not in optional]
        if self.predicted.ignored_unexpected:
            ignore = [re.compile(p) for p in self.predicted.ignored_unexpected]
            unexpected = [(raw, key) for raw, key in unexpected if not any(p.search(key) for p in ignore)]

        findings: list[Finding] = []
        if prefix is not None:
            findings.append(self._prefix_finding(prefix, carrying, transformed))
        findings.extend(self._rename_finding(pair) for pair in renames)
        findings.extend(self._mismatch_findings(mismatched))
        findings.extend(self._missing_findings(absent))
        findings.extend(self._unexpected_findings(unexpected))
        if retied:
            findings.append(self._tied_finding(retied))
        if optional:
            findings.append(msg.MissingAllowed(tuple(optional)).at(self.predicted.tensors[optional[0]].origin))
        findings.extend(self._device_findings())
        findings.extend(self._dtype_findings(mapping))
        findings.extend(self._unverified_findings(unchecked))
        not_checked = sum(len(keys) for keys in unchecked.values())
        coverage = Coverage(
            tensors=len(self.raw_keys),
            checked=len(self.raw_keys) - not_checked - keys_only,
            keys_only=keys_only,
            unchecked=not_checked,
        )
        return Comparison(
            findings=tuple(findings),
            mapping=KeyMapping(mapping=mapping, dropped=dropped, missing=missing),
            matched=len(filled),
            total=len(self.known),
            prefix=prefix,
            renames=tuple((pair.checkpoint_prefix, pair.model_prefix) for pair in renames),
            coverage=coverage,
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
            if any(
                raw in identity_hits for raw in self.raw_keys if not raw.startswith(change.strip)
            ):
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
            return msg.KeyPrefixStripped(
                path,
                len(carrying),
                len(self.raw_keys),
                self._describe_stack(path),
                tuple(model_keys),
                tuple(carrying),
            ).at(self.predicted.origin)
        return msg.KeyPrefixAdded(prefix.add[:-1], tuple(model_keys), tuple(carrying)).at(
            self.predicted.origin
        )

    def _describe_stack(self, path: str) -> str:
        parts = path.split(".")
        described: list[str] = []
        i = 0
        while i < len(parts):
            if parts[i] in WRAPPERS:
                described.append(WRAPPERS[parts[i]])
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

    def _find_renames(self, transformed: Mapping[str, str]) -> list[Rename]:
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

        model_subtrees = complete_subtrees(
            missing, list(self.predicted.tensors), [u.prefix for u in self.predicted.unknown]
        )
        checkpoint_subtrees = complete_subtrees(unexpected, list(checkpoint_shape), [])
        # Checkpoint subtrees indexed by their relative keys, and by (relative key, shape):
        # a model subtree with fully known shapes needs no pairwise shape check.
        by_keys: dict[frozenset[str], list[str]] = defaultdict(list)
        by_shapes: dict[frozenset[tuple[str, tuple[int, ...]]], list[str]] = defaultdict(list)
        keysets: dict[str, frozenset[str]] = {}
        for q, keys in checkpoint_subtrees.items():
            if len(keys) >= 2:
                keysets[q] = frozenset(keys)
                by_keys[signature(q, keys)].append(q)
                by_shapes[frozenset((k[len(q) :], checkpoint_shape[k]) for k in keys)].append(q)

        # Phase A: subtrees of two or more tensors with equal (relative key, shape) sets.
        candidates: dict[tuple[frozenset[str], frozenset[str]], tuple[str, str]] = {}
        for p, keys in model_subtrees.items():
            if len(keys) < 2:
                continue
            shapes = [self.known[k].shape for k in keys]
            known_shapes = [fully_known(shape) for shape in shapes]
            if all(shape is not None for shape in known_shapes):
                exact = frozenset(
                    (k[len(p) :], shape)
                    for k, shape in zip(keys, known_shapes, strict=True)
                    if shape is not None
                )
                options = by_shapes.get(exact, [])
            else:
                options = [
                    q
                    for q in by_keys.get(signature(p, keys), ())
                    if all(
                        shapes_compatible(shape, checkpoint_shape[rebase(k, p, q)])
                        for k, shape in zip(keys, shapes, strict=True)
                    )
                ]
            if not options:
                continue
            model_keyset = frozenset(keys)
            for q in options:
                ident = (model_keyset, keysets[q])
                kept = candidates.get(ident)
                if kept is None or len(p) < len(kept[0]):  # the outermost names say it best
                    candidates[ident] = (p, q)
        by_size: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for p, q in candidates.values():
            by_size[len(model_subtrees[p])].append((p, q))
        matcher = Matcher(model_subtrees, checkpoint_subtrees, self.model_order)
        for size in sorted(by_size, reverse=True):  # the largest subtrees first
            matcher.assign(by_size[size])

        # Phase B: lone tensors (a bare nn.Parameter, a bias-free Linear), only when unambiguous.
        matcher.assign_lone(
            [k for k in missing if k not in matcher.used_model],
            [k for k in unexpected if k not in matcher.used_checkpoint],
            {k: self.known[k].shape for k in missing},
            checkpoint_shape,
        )
        renames = [self._rename(p, q, model_subtrees[p], raw_of) for p, q in matcher.accepted]
        renames.sort(key=lambda r: self.model_order[r.keys[0][1]])
        return renames

    def _rename(self, p: str, q: str, keys: list[str], raw_of: Mapping[str, str]) -> Rename:
        pairs = tuple((rebase(k, p, q), k) for k in keys)
        return Rename(model_prefix=p, checkpoint_prefix=q, keys=pairs, raw=raw_of)

    def _rename_finding(self, rename: Rename) -> Finding:
        p, q = rename.model_prefix, rename.checkpoint_prefix
        module = self.predicted.modules.get(p)
        if module is not None:
            where = module.origin
        elif p in self.predicted.tensors:
            where = self.predicted.tensors[p].origin
        else:
            where = self.predicted.tensors[rename.keys[0][1]].origin
        checkpoint_keys = sorted(
            (rename.raw[c] for c, _ in rename.keys), key=self.file_order.__getitem__
        )
        return msg.RenamedModule(
            p,
            q,
            tuple(model_key for _, model_key in rename.keys),
            tuple(checkpoint_keys),
            is_module=module is not None,
        ).at(where)

    # -- 3. what is left --------------------------------------------------------------------

    def _mismatch_findings(self, mismatched: list[tuple[str, str]]) -> list[Finding]:
        groups: dict[SourceRange, list[tuple[str, str]]] = defaultdict(list)
        for raw, key in mismatched:
            groups[self.known[key].origin].append((raw, key))
        findings = []
        for origin, pairs in groups.items():
            pairs.sort(key=lambda rk: self.model_order[rk[1]])
            shapes = tuple(
                msg.ShapePair(key, raw, tuple(self.tensors[raw].shape), self.known[key].shape)
                for raw, key in pairs
            )
            checkpoint_keys = sorted((r for r, _ in pairs), key=self.file_order.__getitem__)
            findings.append(msg.ShapeMismatch(shapes, tuple(checkpoint_keys), None).at(origin))
        return findings

    def _missing_findings(self, absent: list[str]) -> list[Finding]:
        """One finding per removed module: keys are grouped under the highest module all of whose
        tensors are missing (a dropped `layer3` is one finding at `self.layer3 = ...`, however
        many lines inside its blocks created them); a lone missing tensor stays at its own line."""
        total: dict[str, int] = defaultdict(int)
        gone: dict[str, int] = defaultdict(int)
        absent_set = set(absent)
        for key in self.known:
            for path in leading_paths(key):
                total[path] += 1
                if key in absent_set:
                    gone[path] += 1
        groups: dict[SourceRange, list[str]] = defaultdict(list)
        for key in absent:
            origin = self.known[key].origin
            for path in leading_paths(key):
                module = self.predicted.modules.get(path)
                if path and module is not None and gone[path] == total[path]:
                    origin = module.origin
                    break
            groups[origin].append(key)
        return [msg.MissingKey(tuple(keys)).at(origin) for origin, keys in groups.items()]

    def _unexpected_findings(self, unexpected: list[tuple[str, str]]) -> list[Finding]:
        groups: dict[SourceRange, list[str]] = defaultdict(list)
        for raw, key in unexpected:
            groups[self._owner_origin(key)].append(raw)
        return [msg.UnexpectedKey(tuple(raws)).at(origin) for origin, raws in groups.items()]

    def _unverified_findings(self, unchecked: Mapping[UnknownPart, list[str]]) -> list[Finding]:
        """One `unverified` finding per unresolved part that checkpoint tensors fall under: on the
        line that builds the part, saying why it is unknown and how many tensors that leaves
        unchecked."""
        findings = []
        for part, raws in unchecked.items():
            kind = msg.Unverified(
                part.prefix,
                self.predicted.class_name,
                part.reason,
                tuple(sorted(raws, key=self.file_order.__getitem__)),
                open=part in self.predicted.open,
            )
            findings.append(kind.at(self._user_origin(part), self.unverified_severity))
        return findings

    def _user_origin(self, part: UnknownPart) -> SourceRange:
        """The line in the analysed class's own file that builds `part` (the part itself, or
        the innermost enclosing module created there): a part that failed deep inside a
        library is reported where the user builds it; the message names the library line."""
        user_file = self.predicted.origin.file
        if part.origin.file == user_file:
            return part.origin
        for path in reversed(leading_paths(part.prefix + ".x") if part.prefix else []):
            module = self.predicted.modules.get(path)
            if module is not None and module.origin.file == user_file:
                return module.origin
        return self.predicted.origin

    def _tied_finding(self, retied: list[str]) -> Finding:
        ties = tuple((k, self.predicted.tied[k]) for k in retied)
        return msg.TiedWeights(ties).at(self.predicted.tensors[retied[0]].origin)

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
        return [msg.CudaTensorsSaved(tuple(devices.items())).at(self.predicted.origin)]

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
        return [msg.DtypeDiffers(tuple(held.items()), tuple(into)).at(self.predicted.origin)]
