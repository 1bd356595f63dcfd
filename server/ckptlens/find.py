"""`ckptlens find`: which of the checkpoints in a tree fit a class, best first.

Every checkpoint found is read as `check` reads it (headers and pickles, never tensor data) and
compared with the class's predicted state_dict (predicted once per set of constructor arguments):

- `exact`: every known model key is filled with a compatible shape, nothing unexpected, no
  prefix or rename needed;
- `mapped`: the same after stripping/adding a prefix or renaming submodules (the mapping says how);
- `partial`: the checkpoint fills some of the model (`matched` of `total` keys), the rest is
  missing, unexpected or of another shape;
- `unrelated`: it fills less than a quarter of the model's known keys (another model's
  checkpoint may still share a few layer shapes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckptlens.findings import Finding

FITS = ("exact", "mapped", "partial", "unrelated")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "site-packages", "venv", "env", ".git", ".hg", ".svn", ".venv", ".tox"}
)
_LAYOUT_CODES = frozenset({"key-prefix", "renamed-module"})
_MISFIT_CODES = frozenset({"missing-key", "unexpected-key", "shape-mismatch"})
UNRELATED_BELOW = 0.25  # share of the model's known keys a checkpoint must fill to be `partial`


@dataclass
class Candidate:
    checkpoint: str  # absolute path of the file or folder
    fit: str  # one of FITS
    matched: int
    total: int
    findings: list[Finding] = field(default_factory=list)
    mapping: Any = None  # KeyMapping (mapped/partial)
    mtime_ns: int = 0
    tensors: int = 0

    @property
    def share(self) -> float:
        return self.matched / self.total if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checkpoint": self.checkpoint,
            "fit": self.fit,
            "matched": self.matched,
            "total": self.total,
            "findings": [f.to_json() for f in self.findings],
        }
        if self.fit in ("mapped", "partial") and self.mapping is not None:
            out["mapping"] = self.mapping.to_json()
        return out


@dataclass
class Unreadable:
    checkpoint: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "error": self.error}


@dataclass
class FindResult:
    class_name: str
    candidates: list[Candidate]  # best first
    unreadable: list[Unreadable]

    @property
    def fitting(self) -> list[Candidate]:
        return [c for c in self.candidates if c.fit in ("exact", "mapped")]

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_json() for c in self.candidates],
            "unreadable": [u.to_json() for u in self.unreadable],
        }


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Checkpoint files and Hugging Face folders under `paths` (files named directly count
    whatever their suffix), in a stable order; a sharded folder counts once, not its shards."""
    found: list[Path] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for raw in paths:
        root = Path(raw)
        if root.is_file():
            add(root)
            continue
        if not root.is_dir():
            from ckptlens.checkpoint.index import CheckpointError

            raise CheckpointError(f"no such file or folder: {root}")
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            here = Path(folder)
            indexes = sorted(f for f in files if f.endswith(".index.json"))
            if indexes:
                add(here)  # the folder is one sharded checkpoint
                continue
            for name in sorted(files):
                if name.endswith(CHECKPOINT_SUFFIXES) and not name.startswith("."):
                    add(here / name)
    return found


def classify(result: Any) -> str:
    """The fit of one `api.check` result."""
    comparison = result.comparison
    if comparison is None or comparison.matched == 0 or comparison.matched < UNRELATED_BELOW * comparison.total:
        return "unrelated"
    failing = {f.code for f in result.findings if f.fails and f.is_mismatch}
    mapping = result.mapping
    if failing & _MISFIT_CODES or mapping.missing or mapping.dropped or comparison.matched < comparison.total:
        return "partial"
    if failing & _LAYOUT_CODES or any(k != v for k, v in mapping.mapping.items()):
        return "mapped"
    return "exact"


def _rank(c: Candidate) -> tuple[int, float, int, int, str]:
    dropped = len(c.mapping.dropped) if c.mapping is not None else 0
    return (FITS.index(c.fit), -c.share, dropped, -c.mtime_ns, c.checkpoint)


def find(
    source: str | Path,
    class_name: str,
    paths: Iterable[str | os.PathLike[str]] = (".",),
    *,
    init: Mapping[str, Any] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    analyzer: Any = None,
) -> FindResult:
    from ckptlens.api import Analyzer, CheckCache, check
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.checkpoint.index import CheckpointError

    engine = analyzer if analyzer is not None else Analyzer()
    cache = CheckCache()
    cache.info[(str(source), class_name)] = engine.describe(str(source), class_name)  # bad usage first
    candidates: list[Candidate] = []
    unreadable: list[Unreadable] = []
    for path in discover(paths):
        shown = str(path.absolute())
        try:
            index = read_checkpoint(str(path))
        except CheckpointError as exc:
            unreadable.append(Unreadable(shown, " ".join(str(exc).split())))
            continue
        result = check(
            source, class_name, index, init=init, config=config, analyzer=engine, cache=cache
        )
        candidates.append(
            Candidate(
                checkpoint=index.path,
                fit=classify(result),
                matched=result.comparison.matched,
                total=result.comparison.total,
                findings=[f for f in result.findings if f.is_mismatch or f.fails],
                mapping=result.mapping,
                mtime_ns=index.mtime_ns,
                tensors=len(index.tensors),
            )
        )
    candidates.sort(key=_rank)
    return FindResult(class_name, candidates, unreadable)


def render_find_text(result: FindResult, *, cwd: str | None = None) -> str:
    base = cwd if cwd is not None else os.getcwd()

    def shown(path: str) -> str:
        relative = os.path.relpath(path, base)
        return path if relative.startswith("..") else relative

    lines = []
    width = max((len(shown(c.checkpoint)) for c in result.candidates), default=0)
    for c in result.candidates:
        detail = _detail(c)
        lines.append(
            f"{c.fit:<9}  {shown(c.checkpoint).ljust(width)}  {c.matched}/{c.total}"
            + (f"  {detail}" if detail else "")
        )
    for u in result.unreadable:
        lines.append(f"{'unreadable':<9} {shown(u.checkpoint)}: {u.error}")
    fitting = len(result.fitting)
    total = len(result.candidates)
    summary = f"{result.class_name}: {fitting} of {total} checkpoint{'s' if total != 1 else ''} fit"
    if not total:
        summary = f"{result.class_name}: no checkpoints found"
    if lines:
        lines.append("")
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _detail(c: Candidate) -> str:
    codes: dict[str, int] = {}
    for f in c.findings:
        if f.is_mismatch:
            codes[f.code] = codes.get(f.code, 0) + 1
    parts = []
    if c.fit == "mapped":
        for f in c.findings:
            if f.code == "key-prefix":
                parts.append(_prefix_text(f))
        renames = codes.get("renamed-module", 0)
        if renames:
            parts.append(f"{renames} rename{'s' if renames != 1 else ''}")
    elif c.fit == "partial":
        parts.append(f"fills {c.share:.0%}")
        m = c.mapping
        if m is not None and m.missing:
            parts.append(f"{len(m.missing)} missing ({_examples(m.missing)})")
        if m is not None and m.dropped:
            parts.append(f"{len(m.dropped)} unexpected or reshaped ({_examples(m.dropped)})")
    elif c.fit == "unrelated":
        filled = f"fills {c.share:.0%} of the model" if c.matched else "none of them the model's"
        parts.append(f"{c.tensors} tensors, {filled}")
    return "; ".join(parts)


def _prefix_text(f: Finding) -> str:
    if f.checkpoint_prefix:
        return f"strip {f.checkpoint_prefix}."
    if f.model_prefix:
        return f"add {f.model_prefix}."
    return "prefix"


def _examples(keys: list[str], limit: int = 2) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")
