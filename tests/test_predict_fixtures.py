"""The static prediction against real torch, over the fixture corpus.

For every case of `fixture_cases.CASES`: the model is built with torch (once per session) and
`ckptlens.api.predict` must give the same state_dict, key by key and in order, with the same
shapes, dtypes and kinds, and origins at the user's `self.x = ...` lines (see `fixture_truth`
for the rule). Cases marked `exact=False` must leave exactly their unknowable parts unknown,
say why in an `information` finding, and still be exact everywhere else.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest

from ckptlens import api
from ckptlens.findings import Severity
from fixture_cases import CASES, Case
from fixture_truth import FIXTURES, Truth, build, fixture_path, resolve_marker, under

EXACT = [c for c in CASES if c.exact]
INEXACT = [c for c in CASES if not c.exact]
WITH_ORIGINS = [c for c in CASES if c.origins]


def _ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


_PREDICTIONS: dict[str, Any] = {}


def predicted(case: Case) -> Any:
    """`api.predict` once per case per session (a raised error is re-raised for every test)."""
    if case.id not in _PREDICTIONS:
        try:
            _PREDICTIONS[case.id] = api.predict(
                fixture_path(case.file), case.class_name, init=dict(case.init)
            )
        except Exception as exc:  # noqa: BLE001 - re-raised by every test of the case
            _PREDICTIONS[case.id] = exc
    result = _PREDICTIONS[case.id]
    if isinstance(result, Exception):
        raise result
    return result


def truth(case: Case) -> Truth:
    return build(case.file, case.class_name, case.init)


def _diff(got: list[Any], want: list[Any]) -> str:
    lines = difflib.unified_diff(
        [repr(x) for x in want], [repr(x) for x in got], "torch", "ckptlens", lineterm="", n=2
    )
    return "\n" + "\n".join(lines)


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _shown(file: str) -> str:
    """A file as the fixtures-relative path when it is one (readable diffs), else as given."""
    path = Path(file).resolve()
    return str(path.relative_to(FIXTURES)) if path.is_relative_to(FIXTURES) else file


def _is_unknowable(case: Case, key: str) -> bool:
    return any(under(key, prefix) for prefix in case.unknown)


# ---------------------------------------------------------------- the harness itself


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_fixture_builds_with_torch(case: Case) -> None:
    """The corpus and the manifest are sound: each case builds, its origin markers resolve and
    agree with the traced build, its unknown prefixes name real keys."""
    t = truth(case)
    assert t.tensors, "a fixture without tensors tests nothing"
    for prefix, marker in case.origins.items():
        where = resolve_marker(case.file, case.class_name, marker)
        keys = t.keys_under(prefix)
        assert keys, f"origin prefix {prefix!r} matches no key"
        for key in keys:
            assert t.tensors[key].origin == where, (
                key,
                t.tensors[key].origin.short(),
                where.short(),
            )
    for prefix in case.unknown:
        assert t.keys_under(prefix), f"unknown prefix {prefix!r} matches no key"
    assert case.exact == (not case.unknown)


# ---------------------------------------------------------------- exact cases


@pytest.mark.parametrize("case", EXACT, ids=_ids(EXACT))
def test_keys_and_shapes(case: Case) -> None:
    want = [(k, t.shape) for k, t in truth(case).tensors.items()]
    got = [(k, p.shape) for k, p in predicted(case).tensors.items()]
    assert got == want, _diff(got, want)


@pytest.mark.parametrize("case", EXACT, ids=_ids(EXACT))
def test_dtypes_and_kinds(case: Case) -> None:
    want = [(k, t.dtype, t.kind) for k, t in truth(case).tensors.items()]
    got = [(k, p.dtype, p.kind) for k, p in predicted(case).tensors.items()]
    assert got == want, _diff(got, want)


@pytest.mark.parametrize("case", EXACT, ids=_ids(EXACT))
def test_nothing_unknown(case: Case) -> None:
    pred = predicted(case)
    assert pred.unknown == ()
    infos = [f for f in pred.findings if f.severity == Severity.INFORMATION]
    assert infos == []


@pytest.mark.parametrize("case", EXACT, ids=_ids(EXACT))
def test_origin_lines(case: Case) -> None:
    """Every tensor points at the file and line that explains it (see fixture_truth)."""
    t, pred = truth(case), predicted(case)
    keys = [k for k in t.tensors if k in pred.tensors]  # the others fail test_keys_and_shapes
    want = [(k, _shown(t.tensors[k].origin.file), t.tensors[k].origin.line) for k in keys]
    got = [
        (k, _shown(pred.tensors[k].origin.file), pred.tensors[k].origin.start_line) for k in keys
    ]
    assert got == want, _diff(got, want)


@pytest.mark.parametrize("case", WITH_ORIGINS, ids=_ids(WITH_ORIGINS))
def test_origin_positions_pinned(case: Case) -> None:
    """The pinned origins, to the column (0-based, the start of the `self.x` target or call)."""
    pred = predicted(case)
    for prefix, marker in case.origins.items():
        where = resolve_marker(case.file, case.class_name, marker)
        for key in truth(case).keys_under(prefix):
            if case.exact or key in pred.tensors:
                origin = pred.tensors[key].origin
                assert _same_file(origin.file, where.file), (key, origin.file, where.file)
                assert (origin.start_line, origin.start_col) == (where.line, where.col), (
                    key,
                    marker,
                )


# ---------------------------------------------------------------- cases with unknowable parts


@pytest.mark.parametrize("case", INEXACT, ids=_ids(INEXACT))
def test_unknowable_parts_are_unknown(case: Case) -> None:
    """Unknowable keys are absent under an UnknownPart, or present with an unknown shape or
    at least one unknown dim (and their known dims right); never a wrong guess."""
    t, pred = truth(case), predicted(case)
    for key, tensor in t.tensors.items():
        if not _is_unknowable(case, key):
            continue
        p = pred.tensors.get(key)
        if p is None:
            assert pred.is_unknown(key), f"{key} is neither predicted nor covered by an UnknownPart"
            continue
        if p.shape is None:
            continue
        assert len(p.shape) == len(tensor.shape), (key, p.shape, tensor.shape)
        assert None in p.shape, f"{key}: {p.shape} claims to know {tensor.shape}"
        for d, real in zip(p.shape, tensor.shape, strict=True):
            assert d is None or d == real, (key, p.shape, tensor.shape)
    extra = [k for k in pred.tensors if k not in t.tensors and not _is_unknowable(case, k)]
    assert extra == []


@pytest.mark.parametrize("case", INEXACT, ids=_ids(INEXACT))
def test_unknowable_parts_are_explained(case: Case) -> None:
    infos = [f for f in predicted(case).findings if f.severity == Severity.INFORMATION]
    assert infos, "an unknown part needs an information finding saying why"
    assert all(not f.is_mismatch for f in infos)


@pytest.mark.parametrize("case", INEXACT, ids=_ids(INEXACT))
def test_everything_else_is_exact(case: Case) -> None:
    t, pred = truth(case), predicted(case)
    want = [
        (k, x.shape, x.dtype, x.kind) for k, x in t.tensors.items() if not _is_unknowable(case, k)
    ]
    got = [
        (k, p.shape, p.dtype, p.kind)
        for k, p in pred.tensors.items()
        if not _is_unknowable(case, k)
    ]
    assert got == want, _diff(got, want)
    for key, _, _, _ in want:
        assert not pred.is_unknown(key), f"{key} is knowable but under an UnknownPart"
        origin, true_origin = pred.tensors[key].origin, t.tensors[key].origin
        assert (_shown(origin.file), origin.start_line) == (
            _shown(true_origin.file),
            true_origin.line,
        ), key
