"""Editor extras of issue 17, kept apart from the analysis proper: a size lens on every
nn.Module / LightningModule class of a file (linked or not), its hover, and how many checkpoints
of the workspace fit a class that has no checkpoint linked.

Everything here runs on the analysis thread (it uses the session's analyzer) and is cached by
the file's text, so typing elsewhere does not redo it."""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ckptlens.api import model_size
from ckptlens.findings import SourceRange
from ckptlens.render.find import hint_message
from ckptlens.render.size import lens_text, size_hover

MAX_FIND_FILES = 2000  # checkpoints read for the fit hint, per workspace
MODULE_KINDS = ("module", "lightning")


@dataclass(frozen=True)
class SizeLens:
    class_name: str
    range: SourceRange
    title: str  # `11.7 M params · 44.6 MiB fp32`
    hover: str  # markdown: counts, and the parts that make it a lower bound


@dataclass(frozen=True)
class FitHint:
    class_name: str
    range: SourceRange
    message: str  # `3 checkpoints in lightning_logs/ fit this class`
    checkpoints: tuple[str, ...]  # the fitting ones, best first


@dataclass(frozen=True)
class EditorExtras:
    """What the worker computed for one version of a document besides its analysis."""

    version: int | None
    sizes: tuple[SizeLens, ...] = ()
    hints: tuple[FitHint, ...] = ()


class Extras:
    CACHE = 128

    def __init__(self) -> None:
        self._sizes: OrderedDict[tuple[str, str], list[tuple[str, SourceRange, Any]]] = OrderedDict()
        self._hints: OrderedDict[tuple[Any, ...], list[FitHint]] = OrderedDict()
        self._files: tuple[Any, list[Any]] | None = None

    # -- sizes --

    def size_lenses(self, session: Any, path: str, text: str, linked: Mapping[str, Any]) -> list[SizeLens]:
        """`linked`: class name -> the PredictedStateDict of its check (its constructor
        arguments come from the link); other classes are predicted with their defaults."""
        key = (path, _digest(text, ()))
        classes = self._sizes.get(key)
        if classes is None:
            classes = []
            for name, rng in module_classes(session, path, text):
                try:
                    predicted = linked.get(name) or session.analyzer.predict(path, name, {})
                except Exception:  # noqa: BLE001 - a class the engine cannot build gets no lens
                    predicted = None
                classes.append((name, rng, predicted))
            self._sizes[key] = classes
            while len(self._sizes) > self.CACHE:
                self._sizes.popitem(last=False)
        else:
            self._sizes.move_to_end(key)
        out = []
        for name, rng, predicted in classes:
            predicted = linked.get(name) or predicted
            if predicted is None:
                continue
            size = model_size(predicted)
            out.append(SizeLens(name, rng, lens_text(size.total), size_hover(name, size.total, size.submodules)))
        return out

    # -- fit hints --

    def fit_hints(
        self, session: Any, path: str, text: str, linked: Sequence[str], generation: int = 0
    ) -> list[FitHint]:
        """For each module class without a linked checkpoint: the workspace checkpoints that fit
        it (exact or mapped), as one `information` hint on the class name. The workspace is
        walked once per `generation` (the server bumps it when watched files change)."""
        from ckptlens.find import discover, find

        roots = [r for r in session.roots if os.path.isdir(r)]
        if not roots:
            return []
        if self._files is None or self._files[0] != (generation, tuple(roots)):
            try:
                found = discover(roots)[:MAX_FIND_FILES]
            except Exception:  # noqa: BLE001 - a vanished root: no hints this time
                found = []
            self._files = ((generation, tuple(roots)), found)
        files = self._files[1]
        if not files:
            return []
        stamps = tuple((str(f), _stamp(f)) for f in files)
        key = (path, _digest(text, linked), stamps)
        cached = self._hints.get(key)
        if cached is not None:
            self._hints.move_to_end(key)
            return cached
        out = []
        for name, rng in module_classes(session, path, text):
            if name in linked:
                continue
            try:
                result = find(path, name, [str(f) for f in files], analyzer=session.analyzer)
            except Exception:  # noqa: BLE001
                continue
            fitting = [c.checkpoint for c in result.fitting]
            if fitting:
                out.append(FitHint(name, rng, hint_message(fitting, roots), tuple(fitting)))
        self._hints[key] = out
        while len(self._hints) > self.CACHE:
            self._hints.popitem(last=False)
        return out


def module_classes(session: Any, path: str, text: str) -> list[tuple[str, SourceRange]]:
    """The file's top-level classes that are nn.Modules or LightningModules, with their names'
    ranges (as the workspace index scanned them)."""
    scan = session.index.scan(path, session.overlays)
    if not scan.ok:
        return []
    modules = set(session.analyzer.module_classes(path, list(scan.classes), MODULE_KINDS))
    return [(name, decl.name_range) for name, decl in scan.classes.items() if name in modules]


def _digest(text: str, extra: Sequence[str]) -> str:
    h = hashlib.sha1(text.encode("utf-8", "surrogatepass"))
    h.update(repr(sorted(extra)).encode())
    return h.hexdigest()


def _stamp(path: Any) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


# -- commands for any LSP client (workspace/executeCommand) ----------------------------------


def find_for_class(session: Any, path: str, class_name: str) -> list[dict[str, Any]]:
    """`ckptlens.findCheckpoints`: the workspace's checkpoints ranked for a class, best first."""
    from ckptlens.find import find

    roots = [r for r in session.roots if os.path.isdir(r)]
    result = find(path, class_name, roots, analyzer=session.analyzer)
    return [
        {"checkpoint": c.checkpoint, "fit": c.fit, "matched": c.matched, "total": c.total}
        for c in result.candidates
    ]


def write_for_class(
    session: Any, path: str, class_name: str, out: str, checkpoint: str | None, max_shard_size: str | None
) -> dict[str, Any]:
    """`ckptlens.writeFixedCheckpoint`: the class's checkpoint (given, else the one linked to
    it) written to `out` as safetensors with the key mapping applied. Returns `map --write`'s
    `written` object, or `{"error": one line}`."""
    from ckptlens.api import check
    from ckptlens.checkpoint.writer import parse_size, write_safetensors

    try:
        init: dict[str, Any] = {}
        if checkpoint is None:
            link = next(
                (lk for lk in session.links() if lk.class_file == path and lk.class_name == class_name), None
            )
            if link is None:
                return {"error": f"`{class_name}` has no linked checkpoint: name one"}
            from ckptlens.workspace.resolution import resolve_checkpoint

            resolution = resolve_checkpoint(link, session.options.hf_cache)
            if resolution.path is None:
                return {"error": f"the checkpoint linked to `{class_name}` cannot be found"}
            checkpoint = resolution.path
            init = session.init_arguments(link)
        result = check(path, class_name, checkpoint, init=init, analyzer=session.analyzer)
        written = write_safetensors(
            result.index.path,
            out,
            mapping=result.mapping.mapping,
            dropped=result.mapping.dropped,
            tied=result.predicted.tied,
            max_shard_size=parse_size(max_shard_size) if max_shard_size else None,
        )
    except Exception as exc:  # noqa: BLE001 - one line for the client, never a dead server
        return {"error": " ".join(str(exc).split()) or type(exc).__name__}
    return written.to_json()
