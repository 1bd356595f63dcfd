"""Renamed submodules for the comparer (`compare`): a missing model subtree paired with an
unexpected checkpoint subtree holding the same (relative key, shape) set, the pairs chosen by
structure and by name similarity."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ckptlens.engine.keys import is_under, leading_paths
from ckptlens.engine.model import Shape, shapes_compatible


class Matcher:
    """Pairs missing model subtrees with unexpected checkpoint subtrees, each key used once."""

    def __init__(
        self,
        model_subtrees: Mapping[str, list[str]],
        checkpoint_subtrees: Mapping[str, list[str]],
        model_order: Mapping[str, int],
    ) -> None:
        self.model_subtrees = model_subtrees
        self.checkpoint_subtrees = checkpoint_subtrees
        self.model_order = model_order
        self.used_model: set[str] = set()
        self.used_checkpoint: set[str] = set()
        self.accepted: list[tuple[str, str]] = []

    def _free(self, p: str, q: str) -> bool:
        return not any(k in self.used_model for k in self.model_subtrees[p]) and not any(
            k in self.used_checkpoint for k in self.checkpoint_subtrees[q]
        )

    def _accept(self, p: str, q: str) -> None:
        self.used_model.update(self.model_subtrees[p])
        self.used_checkpoint.update(self.checkpoint_subtrees[q])
        self.accepted.append((p, q))

    def assign(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Pairs of one size: first those that keep their parent and are the only such option
        both ways (`layers.3.attn` ~ `layers.3.self_attn`), then by name similarity."""
        live = [(p, q) for p, q in pairs if self._free(p, q)]
        self._accept_unique([(p, q) for p, q in live if _parent(p) == _parent(q)])
        live = [(p, q) for p, q in live if self._free(p, q)]
        cheap = len(live) > 2000
        live.sort(
            key=lambda pq: (
                _parent(pq[0]) != _parent(pq[1]),
                -name_similarity(pq[0], pq[1], cheap=cheap),
                self.model_order[self.model_subtrees[pq[0]][0]],
                pq[1],
            )
        )
        for p, q in live:
            if self._free(p, q):
                self._accept(p, q)

    def _accept_unique(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Accept the pairs whose two sides have no other option; return the others."""
        options: dict[str, list[str]] = defaultdict(list)
        chosen: dict[str, int] = defaultdict(int)
        for p, q in pairs:
            options[p].append(q)
            chosen[q] += 1
        rest = []
        for p, q in pairs:
            if len(options[p]) == 1 and chosen[q] == 1 and self._free(p, q):
                self._accept(p, q)
            else:
                rest.append((p, q))
        return rest

    def assign_lone(
        self,
        missing: Sequence[str],
        unexpected: Sequence[str],
        model_shape: Mapping[str, Shape],
        checkpoint_shape: Mapping[str, tuple[int, ...]],
    ) -> None:
        """Single tensors, renamed only when unambiguous: beside the same parent, the one
        compatible option (or a mutual, clear best name among several there); anywhere else,
        the one compatible option both ways, for tensors alone in their largest wholly-missing
        / wholly-unexpected subtree (not part of a missing module)."""
        # Beside the same parent, with the same tail below the renamed name.
        near_m = {k: _lone_path(k, self.model_subtrees) for k in missing}
        near_u = {k: _lone_path(k, self.checkpoint_subtrees) for k in unexpected}
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for u, q in near_u.items():
            groups[(_parent(q), u[len(q) :])].append(u)
        local: list[tuple[str, str]] = []
        for m, p in near_m.items():
            for u in groups.get((_parent(p), m[len(p) :]), ()):
                if shapes_compatible(model_shape[m], checkpoint_shape[u]):
                    local.append((p, near_u[u]))
        rest = self._accept_unique(local)
        self._accept_best_names(rest)

        lone_m = {}
        for k in missing:
            path = _outermost(k, self.model_subtrees)
            if k not in self.used_model and path and len(self.model_subtrees[path]) == 1:
                lone_m[k] = path
        lone_u = {}
        for k in unexpected:
            path = _outermost(k, self.checkpoint_subtrees)
            if k not in self.used_checkpoint and path and len(self.checkpoint_subtrees[path]) == 1:
                lone_u[k] = path
        if not lone_m or not lone_u:
            return

        # Anywhere: the one compatible option both ways.
        remaining = list(lone_u)
        by_shape: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for u in remaining:
            by_shape[checkpoint_shape[u]].append(u)
        options: dict[str, list[str]] = {}
        chosen: dict[str, int] = defaultdict(int)
        for m in lone_m:
            shape = model_shape[m]
            if shape is not None and all(d is not None for d in shape):
                found = list(by_shape.get(tuple(d for d in shape if d is not None), ()))
            else:
                found = [u for u in remaining if shapes_compatible(shape, checkpoint_shape[u])]
            options[m] = found
            for u in found:
                chosen[u] += 1
        for m, found in options.items():
            if len(found) == 1 and chosen[found[0]] == 1:
                p, q = _lone_names(m, found[0], self.model_subtrees, self.checkpoint_subtrees)
                self._accept(p, q)

    def _accept_best_names(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Among several options, a pair whose names are each other's clear best match."""
        live = [(p, q) for p, q in pairs if self._free(p, q)]
        scores = {(p, q): name_similarity(p, q) for p, q in live}
        best_p: dict[str, list[float]] = defaultdict(list)
        best_q: dict[str, list[float]] = defaultdict(list)
        for (p, q), score in scores.items():
            best_p[p].append(score)
            best_q[q].append(score)
        for (p, q), score in sorted(scores.items(), key=lambda item: -item[1]):
            if score < 0.3 or not self._free(p, q):
                continue
            if _clear_best(score, best_p[p]) and _clear_best(score, best_q[q]):
                self._accept(p, q)


def _clear_best(score: float, scores: list[float]) -> bool:
    return score == max(scores) and scores.count(score) == 1


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _outermost(key: str, subtrees: Mapping[str, list[str]]) -> str | None:
    """The shortest path whose subtree (wholly missing / unexpected) holds `key`."""
    for path in (*leading_paths(key), key):
        if path in subtrees:
            return path
    return None


def _lone_path(key: str, subtrees: Mapping[str, list[str]]) -> str:
    """The shortest path whose subtree is just `key` (at worst the key itself)."""
    for path in leading_paths(key):
        if subtrees.get(path) == [key]:
            return path
    return key


def _lone_names(
    m: str,
    u: str,
    model_subtrees: Mapping[str, list[str]],
    checkpoint_subtrees: Mapping[str, list[str]],
) -> tuple[str, str]:
    """Name a lone tensor's rename at the outermost level that still holds just that tensor
    on both sides with the same tail (`proj`~`projection` for `proj.weight`)."""
    p, q = m, u
    m_parts, u_parts = m.split("."), u.split(".")
    for k in range(1, min(len(m_parts), len(u_parts))):
        if m_parts[-k:] != u_parts[-k:]:
            break
        p_try, q_try = ".".join(m_parts[:-k]), ".".join(u_parts[:-k])
        if model_subtrees.get(p_try) == [m] and checkpoint_subtrees.get(q_try) == [u]:
            p, q = p_try, q_try
        else:
            break
    return p, q


@dataclass(frozen=True)
class Rename:
    model_prefix: str
    checkpoint_prefix: str
    keys: tuple[tuple[str, str], ...]  # (checkpoint key, model key), prefix-changed space
    raw: Mapping[str, str]  # prefix-changed checkpoint key -> key in the file


def fully_known(shape: Shape) -> tuple[int, ...] | None:
    if shape is None or any(d is None for d in shape):
        return None
    return tuple(d for d in shape if d is not None)


def rebase(key: str, old: str, new: str) -> str:
    """`key` under `old` moved under `new` (old == key for a lone tensor)."""
    return new + key[len(old) :]


def signature(prefix: str, keys: Iterable[str]) -> frozenset[str]:
    return frozenset(k[len(prefix) :] for k in keys)


def complete_subtrees(
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
    """How alike two module paths read, judged on the components where they differ: 1.0 for
    `layer_1`~`layer1`, high for `conv1`~`convolution_one`. `cheap` skips difflib (for very
    many candidate pairs)."""
    pa, pb = a.split("."), b.split(".")
    while len(pa) > 1 and len(pb) > 1 and pa[0] == pb[0]:
        pa, pb = pa[1:], pb[1:]
    while len(pa) > 1 and len(pb) > 1 and pa[-1] == pb[-1]:
        pa, pb = pa[:-1], pb[:-1]
    na, nb = _normalize(".".join(pa)), _normalize(".".join(pb))
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
