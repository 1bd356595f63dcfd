"""One way through (issue 14 item 3): every stage makes new values from the last one's and
edits none; the transformers loading view is such a stage."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from ckptlens.api import CheckResult
from ckptlens.engine.compare import compare
from ckptlens.engine.model import UnknownPart
from ckptlens.engine.transformers_view import BUILT_ON_LOAD, ConvertedView
from compare_helpers import at, build, ckpt


def test_the_prediction_and_the_comparison_are_frozen() -> None:
    predicted = build([("fc.weight", (2, 3)), ("fc.bias", (2,))], unknown=["head"])
    comparison = compare(predicted, ckpt([("fc.weight", (2, 3)), ("fc.bias", (4,))]))
    with pytest.raises(FrozenInstanceError):
        predicted.unknown = ()  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        comparison.findings = ()  # type: ignore[misc]
    assert isinstance(predicted.unknown, tuple) and isinstance(predicted.findings, tuple)
    assert isinstance(comparison.findings, tuple) and isinstance(comparison.renames, tuple)
    assert [f.code for f in comparison.findings] == ["shape-mismatch"]
    assert CheckResult.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_the_transformers_view_returns_new_values_and_edits_nothing() -> None:
    predicted = build([("norm.weight", (4,)), ("norm.bias", (4,)), ("qkv.weight", (12, 4))])
    built = UnknownPart("qkv.weight", BUILT_ON_LOAD, at(12))
    view = ConvertedView(
        ckpt([("norm.weight", (4,)), ("norm.bias", (4,))]),
        {"norm.weight": "norm.gamma", "norm.bias": "norm.beta"},
        (built,),
    )
    seen = view.predicted(predicted)
    assert predicted.unknown == () and seen.unknown == (built,)
    comparison = compare(seen, view.tensors)
    raw = view.back_to_raw(comparison)
    assert comparison.mapping.mapping == {"norm.weight": "norm.weight", "norm.bias": "norm.bias"}
    assert raw.mapping.mapping == {"norm.gamma": "norm.weight", "norm.beta": "norm.bias"}
    assert (raw.matched, raw.total, raw.findings) == (2, 2, ())
