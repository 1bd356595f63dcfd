"""The registry of finding kinds (engine/messages.py): every finding is made by one kind,
which fixes its code, default severity and message, and carries its typed details."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from ckptlens.engine import messages
from ckptlens.engine.compare import compare
from ckptlens.findings import MISMATCH_CODES, Finding, Message, Severity, SourceRange
from compare_helpers import build, ckpt

ROOT = Path(__file__).resolve().parents[1] / "server" / "ckptlens"
WHERE = SourceRange("/m.py", 3, 4, 3, 9)


def test_every_finding_in_the_server_is_made_through_a_registered_kind() -> None:
    """No rule builds a `Finding` by hand: `Finding(` appears only where the type lives."""
    made_by_hand = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "findings.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(?<![\w.])Finding\(", line):
                made_by_hand.append(f"{rel}:{number}: {line.strip()}")
    assert made_by_hand == []


def test_every_kind_has_a_code_severity_template_and_typed_details() -> None:
    assert len(set(messages.KINDS)) == len(messages.KINDS)
    for kind in messages.KINDS:
        assert issubclass(kind, Message) and kind.fields, kind
        assert set(kind.fields) == set(kind.__annotations__), kind
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", kind.code), kind
        assert isinstance(kind.severity, Severity) and kind.template, kind
    # the SPEC's mismatch codes are errors by default
    assert {k.code for k in messages.KINDS if k.code in MISMATCH_CODES} == set(MISMATCH_CODES)
    assert all(k.severity is Severity.ERROR for k in messages.KINDS if k.code in MISMATCH_CODES)
    assert messages.kinds_of("cuda-tensors") == (messages.CudaTensorsSaved, messages.CudaTensorsAtLoad)


def test_a_kind_makes_its_finding_with_its_details() -> None:
    kind = messages.MissingKey(("fc.weight", "fc.bias"))
    finding = kind.at(WHERE)
    assert finding == Finding(
        "missing-key", Severity.ERROR, WHERE, "missing key(s) in checkpoint: fc.weight, fc.bias",
        ("fc.weight", "fc.bias"),
    )
    assert finding.details is kind
    with pytest.raises(FrozenInstanceError):
        kind.model_keys = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        messages.MissingKey(("a",), ("b",))  # type: ignore[call-arg]
    assert repr(kind) == "MissingKey(model_keys=('fc.weight', 'fc.bias'))"
    lowered = messages.Unverified("enc", "Net", "an unknown call", ("enc.w",), open=False).at(WHERE, Severity.HINT)
    assert lowered.severity is Severity.HINT and lowered.model_prefix == "enc"
    assert lowered.message.startswith("`enc` could not be resolved: an unknown call; 1 checkpoint tensor under it (enc.w) is not checked;")


def test_a_shape_mismatch_carries_its_shapes_as_typed_details() -> None:
    predicted = build([("fc.weight", (10, 4)), ("fc.bias", (10,))])
    result = compare(predicted, ckpt([("fc.weight", (12, 4)), ("fc.bias", (12,))]))
    [finding] = result.findings
    assert finding.code == "shape-mismatch"
    assert isinstance(finding.details, messages.ShapeMismatch)
    assert finding.details.pairs == (
        messages.ShapePair("fc.weight", "fc.weight", (12, 4), (10, 4)),
        messages.ShapePair("fc.bias", "fc.bias", (12,), (10,)),
    )
    assert finding.details.checkpoint_keys == ("fc.weight", "fc.bias")
    assert finding.message == (
        "size mismatch for fc.weight: copying a param with shape [12, 4] from checkpoint, the shape in current "
        "model is [10, 4]; size mismatch for fc.bias: copying a param with shape [12] from checkpoint, the shape "
        "in current model is [10]"
    )
    assert not hasattr(finding, "data") and not hasattr(finding, "fixes")
