"""Ground truth and prediction for the research corpus (tests/research/cases.py).

torch's truth: the case's module imported from its repository's root (a fresh import each time;
the modules it loaded are dropped afterwards, so two repositories' `models` packages never
mix), the model built on the meta device, `state_dict()`. Third-party packages a file imports
but the model never uses to build (a trainer's `accelerate`, `ema_pytorch`) are stubbed for
torch only when missing; ckptlens never needs them. A placeholder that is used while the model
is built (instantiated or called) voids the truth: the case is reported as having none.

The prediction: `ckptlens.api.predict` on the same file, with the case's `init`/`config`,
classified against the truth by tests/sweep/classify.py.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from research.cases import CASES, Case  # noqa: E402
from sweep.classify import DETAIL, classify  # noqa: E402

CORPUS = HERE / "corpus"  # the vendored corpus


def corpus_root(root: Path | None = None) -> Path:
    """`root`, else $CKPTLENS_RESEARCH_CORPUS (a full export: <owner>__<name>/ per repository),
    else the vendored corpus."""
    return root or Path(os.environ.get("CKPTLENS_RESEARCH_CORPUS") or CORPUS)


def repo_dir(case: Case, root: Path | None = None) -> Path:
    return corpus_root(root) / case.repo.replace("/", "__")


def import_root(case: Case, root: Path | None = None) -> Path:
    return repo_dir(case, root) / case.root if case.root else repo_dir(case, root)


def source(case: Case, root: Path | None = None) -> Path:
    return repo_dir(case, root) / case.path


def module_name(case: Case) -> str:
    path = case.path.removeprefix(case.root + "/") if case.root else case.path
    return path.removesuffix(".py").replace("/", ".")


_REPLACED: dict[str, types.ModuleType] = {}  # real modules a case's `stubs` set aside
_USED: list[str] = []  # placeholders touched while torch builds the model: the truth is void


class _Placeholder:
    """Stands in for anything a stubbed module gives: a class to subclass or instantiate, a
    decorator (`@numba.jit(...)`), an attribute. Using it while the model is built voids the truth."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _USED.append(type(self).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        _USED.append(type(self).__name__)
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self


class _Stub(types.ModuleType):
    """A missing third-party module: every attribute is a placeholder class."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (_Placeholder,), {})


@contextlib.contextmanager
def _isolated(root: Path) -> Iterator[list[str]]:
    """`root` first on sys.path; modules already loaded under a name `root` provides, from
    elsewhere (another repository's `models`, a test's `resnet` or `utils`), set aside meanwhile."""
    provided = {p.stem if p.suffix == ".py" else p.name for p in root.iterdir() if p.suffix == ".py" or p.is_dir()}
    aside = {n: m for n, m in list(sys.modules.items()) if n.split(".")[0] in provided and not _from(m, root)}
    for name in aside:
        del sys.modules[name]
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    stubbed: list[str] = []
    try:
        yield stubbed
    finally:
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            if isinstance(sys.modules[name], _Stub) or _from(sys.modules[name], root):
                del sys.modules[name]
        for name, module in _REPLACED.items():
            sys.modules[name] = module
        _REPLACED.clear()
        sys.modules.update(aside)


def _from(module: types.ModuleType, root: Path) -> bool:
    """Whether `module` (or the namespace package) was loaded from under `root`."""
    where = [getattr(module, "__file__", None) or ""]
    path = getattr(module, "__path__", None)
    if isinstance(path, list):
        where += [str(p) for p in path]
    elif type(path).__name__ == "_NamespacePath":  # its own list, never recomputed from a parent
        where += [str(p) for p in getattr(path, "_path", [])]
    return any(w.startswith(str(root)) for w in where)


def _stub(missing: str | None, case: Case, stubbed: list[str], replace: bool = False, root: Path | None = None) -> bool:
    """Stub a missing third-party module (and its parents; `replace`: the module itself even
    when it exists, as the case asks); False when it cannot be."""
    if not missing or missing in stubbed or (import_root(case, root) / missing.split(".")[0]).exists():
        return False
    for depth in range(1, missing.count(".") + 2):  # a.b.c: stub a, a.b, a.b.c
        part = ".".join(missing.split(".")[:depth])
        if replace and part == missing and part in sys.modules:
            _REPLACED[part] = sys.modules.pop(part)
        if part not in sys.modules:
            stub = _Stub(part)
            stub.__path__ = []  # type: ignore[attr-defined]
            sys.modules[part] = stub
            stubbed.append(part)
    return True


def _import(case: Case, stubbed: list[str], root: Path | None) -> types.ModuleType:
    for _ in range(20):
        try:
            return importlib.import_module(module_name(case))
        except ModuleNotFoundError as exc:
            if not _stub(exc.name, case, stubbed, root=root):
                raise
            for name in [n for n, m in list(sys.modules.items()) if _from(m, import_root(case, root))]:
                del sys.modules[name]  # half-imported
    raise RuntimeError(f"{case.id}: too many missing modules")


def build_truth(case: Case, root: Path | None = None) -> tuple[list[tuple[str, tuple[int, ...], str]], list[str]]:
    """torch's state_dict of the case: (key, shape, dtype) in order, and the modules stubbed."""
    from sweep.targets import build_truth as torch_truth

    with _isolated(import_root(case, root)) as stubbed:
        for name in case.stubs:
            _stub(name, case, stubbed, replace=True, root=root)
        module = _import(case, stubbed, root)
        namespace = dict(vars(module))
        namespace["CONFIG"] = dict(case.config or {})

        def build() -> Any:
            for _ in range(5):  # an import inside `__init__` (`from omegaconf... import ...`)
                try:
                    return construct()
                except ModuleNotFoundError as exc:
                    if not _stub(exc.name, case, stubbed, root=root):
                        raise
            return construct()

        def construct() -> Any:
            if case.truth is not None:
                return eval(case.truth, namespace)  # noqa: S307 - the table's own expression
            if case.config is not None:
                config_class = namespace[case.config_class] if case.config_class else dict
                return namespace[case.name](config_class(**case.config))
            return namespace[case.name](**case.init)

        # on the meta device; a constructor needing real values (`.item()` of a drop-path
        # schedule) gets only its parameters on the meta device
        _USED.clear()
        truth = torch_truth(build)
        if _USED:
            raise RuntimeError(f"building needs the missing module(s) {stubbed}: {sorted(set(_USED))}")
    return truth.tensors, stubbed


def predict_case(case: Case, truth: list[tuple[str, tuple[int, ...], str]], analyzer: Any = None,
                 root: Path | None = None) -> dict[str, Any]:
    """ckptlens's prediction of the case, classified against torch's truth."""
    from ckptlens.api import predict

    record: dict[str, Any] = {"id": case.id}
    start = time.perf_counter()
    try:
        predicted = predict(str(source(case, root)), case.name, init=case.init, config=case.config, analyzer=analyzer)
    except Exception as exc:  # noqa: BLE001 - ckptlens raised: that is the finding
        return {**record, "class": "error", "error": f"{type(exc).__name__}: {exc}"[:500],
                "truth_keys": len(truth), "correct": 0, "coverage": 0.0,
                "seconds": time.perf_counter() - start}
    record["seconds"] = time.perf_counter() - start
    shapes = {k: (None if t.shape is None else list(t.shape)) for k, t in predicted.tensors.items()}
    unknown = [(p.prefix, p.reason) for p in predicted.unknown]
    opened = [(p.prefix, p.reason) for p in predicted.open]
    record.update(classify(truth, shapes, [p for p, _ in unknown], [p for p, _ in opened]))
    if unknown:
        record["unknown"] = [list(u) for u in unknown[:DETAIL]]
        record["n_unknown"] = len(unknown)
    if opened:
        record["open"] = [list(u) for u in opened[:DETAIL]]
    return record


def cases_present(root: Path | None = None) -> list[Case]:
    return [c for c in CASES if source(c, root).is_file()]
