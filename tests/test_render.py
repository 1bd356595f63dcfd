"""Output formats: check (json / sarif / text), map (json / text), keys (json / text)."""

from __future__ import annotations

import json
from dataclasses import replace

from ckptlens.engine.compare import compare
from ckptlens.engine.messages import UnresolvedPart
from ckptlens.findings import Finding, Severity, SourceRange
from ckptlens.render.check import check_to_json, check_to_sarif, render_check_text
from ckptlens.render.keys import keys_to_json, render_keys_text
from ckptlens.render.map import map_to_json, render_map_text
from compare_helpers import FILE, SPEC_FINDING_FIELDS, build, same

MODEL = [
    ("layer_1.weight", (20, 10)),
    ("layer_1.bias", (20,)),
    ("fc2.weight", (5, 20)),
    ("fc2.bias", (5,)),
    ("new.weight", (3, 3)),
]
CHECKPOINT = same(
    [
        ("module.layer1.weight", (20, 10)),
        ("module.layer1.bias", (20,)),
        ("module.fc2.weight", (5, 30)),
        ("module.fc2.bias", (5,)),
        ("module.old.weight", (2,)),
    ]
)


def _result():
    predicted = build(MODEL, lines={"layer_1": 12, "fc2": 13, "new": 14})
    return predicted, compare(predicted, CHECKPOINT)


def test_check_json_has_the_ten_fields():
    _, result = _result()
    data = check_to_json(result.findings)
    assert list(data) == ["findings"]
    assert [f["code"] for f in data["findings"]] == [
        "key-prefix",
        "renamed-module",
        "shape-mismatch",
        "missing-key",
        "unexpected-key",
    ]
    for finding in data["findings"]:
        assert list(finding) == SPEC_FINDING_FIELDS
        assert finding["file"] == FILE
    rename = data["findings"][1]
    assert rename == {
        "code": "renamed-module",
        "severity": "error",
        "file": FILE,
        "line": 12,
        "column": 9,
        "message": "`self.layer_1`: the checkpoint holds these weights as `layer1` (2 tensors)",
        "model_keys": ["layer_1.weight", "layer_1.bias"],
        "checkpoint_keys": ["module.layer1.weight", "module.layer1.bias"],
        "model_prefix": "layer_1",
        "checkpoint_prefix": "layer1",
    }
    json.dumps(data)


def test_check_json_empty():
    assert check_to_json([]) == {"findings": []}


def test_sarif():
    _, result = _result()
    note = Finding("cuda-tensors", Severity.INFORMATION, SourceRange(FILE, 3, 6, 3, 9), "cuda")
    log = check_to_sarif([*result.findings, note], "0.1.0")
    json.dumps(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ckptlens" and driver["version"] == "0.1.0"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == [
        "key-prefix",
        "renamed-module",
        "shape-mismatch",
        "missing-key",
        "unexpected-key",
        "cuda-tensors",
    ]
    results = run["results"]
    assert [r["ruleId"] for r in results] == rule_ids
    assert [r["level"] for r in results] == ["error"] * 5 + ["note"]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in results)
    rename = results[1]
    location = rename["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "file://" + FILE
    assert location["region"] == {"startLine": 12, "startColumn": 9, "endLine": 12, "endColumn": 15}
    assert rename["message"]["text"].startswith("`self.layer_1`")
    assert rename["properties"]["model_prefix"] == "layer_1"


def test_check_text_plain():
    _, result = _result()
    text = render_check_text(
        result.findings,
        class_name="Net",
        checkpoint_path="/ckpts/net.ckpt",
        matched=result.matched,
        total=result.total,
        color=False,
        cwd="/abs",
    )
    lines = text.splitlines()
    assert lines[0].startswith(
        'model.py:3:7: key-prefix every checkpoint key starts with "module."'
    )
    assert lines[1].startswith(
        "model.py:3:7: unexpected-key unexpected key(s) in checkpoint: module.old.weight"
    )
    assert lines[2].startswith("model.py:12:9: renamed-module `self.layer_1`")
    assert lines[-1] == "✗ 5 findings · Net: 3/5 tensors match · net.ckpt"
    assert lines[-2] == ""
    assert "\033[" not in text


def test_check_text_colour_and_clean_summary():
    _, result = _result()
    text = render_check_text(
        result.findings,
        class_name="Net",
        checkpoint_path="net.ckpt",
        matched=3,
        total=5,
        color=True,
    )
    assert "\033[1;31mkey-prefix\033[0m" in text
    clean = render_check_text(
        [], class_name="Net", checkpoint_path="/x/net.ckpt", matched=42, total=42, color=False
    )
    assert clean == "✓ Net: 42/42 tensors match · net.ckpt\n"
    note = Finding(
        "cuda-tensors", Severity.INFORMATION, SourceRange("/elsewhere/m.py", 3, 0, 3, 3), "cuda"
    )
    with_note = render_check_text(
        [note],
        class_name="Net",
        checkpoint_path="net.ckpt",
        matched=1,
        total=1,
        color=False,
        cwd="/abs",
    )
    assert (
        with_note
        == "/elsewhere/m.py:3:1: cuda-tensors cuda\n\n✓ Net: 1/1 tensors match · 1 note · net.ckpt\n"
    )


def test_map_json_and_text():
    _, result = _result()
    data = map_to_json(result.mapping)
    assert data == {
        "mapping": {
            "module.layer1.weight": "layer_1.weight",
            "module.layer1.bias": "layer_1.bias",
            "module.fc2.bias": "fc2.bias",
        },
        "dropped": ["module.fc2.weight", "module.old.weight"],
        "missing": ["fc2.weight", "new.weight"],
    }
    text = render_map_text(result)
    assert 'strip "module." from every key that starts with it' in text
    assert "  layer1  →  layer_1" in text
    assert "dropped" in text and "  module.old.weight" in text
    assert "missing" in text and "  new.weight" in text
    assert (
        text.splitlines()[0]
        == "3 checkpoint keys kept (3 under a new name), 2 dropped, 2 model keys missing"
    )


def test_map_text_identity():
    spec = [("w", (1,))]
    text = render_map_text(compare(build(spec), same(spec)))
    assert "identity: the checkpoint loads as it is" in text


def test_keys_json():
    predicted = build([("a.weight", (None, 3)), ("a.bias", None), ("b", (2,))], unknown=["enc"])
    unresolved = UnresolvedPart("enc", predicted.class_name, "an unknown call", open=False)
    predicted = replace(predicted, findings=(unresolved.at(predicted.origin),))
    data = keys_to_json(predicted)
    assert data["keys"] == {"a.weight": [None, 3], "a.bias": None, "b": [2]}
    assert list(data["keys"]) == ["a.weight", "a.bias", "b"]
    assert [f["code"] for f in data["findings"]] == ["unresolved"]
    assert json.dumps(data["keys"]) == '{"a.weight": [null, 3], "a.bias": null, "b": [2]}'


def test_keys_text():
    predicted = build(
        [
            ("conv.weight", (8, None, 3, 3)),
            ("bn.running_mean", (8,)),
            ("bn.num_batches_tracked", ()),
        ],
        unknown=["enc"],
        buffers=["bn.running_mean", "bn.num_batches_tracked"],
        dtypes={"bn.num_batches_tracked": "int64"},
    )
    text = render_keys_text(predicted, color=False)
    lines = text.splitlines()
    assert lines[0] == "conv.weight             [8, ?, 3, 3]"
    assert lines[1] == "bn.running_mean         [8]           (buffer)"
    assert lines[2] == "bn.num_batches_tracked  []            (buffer, int64)"
    assert lines[3] == "enc.*                   ?             unknown: could not resolve it"
    assert lines[-1] == "Net: 3 tensors · 1 unknown part · 1 with unknown shape"


def test_keys_text_beside_a_checkpoint():
    predicted, result = _result()
    text = render_keys_text(predicted, checkpoint=CHECKPOINT, comparison=result)
    rows = {line.split()[0]: line for line in text.splitlines() if line}
    assert rows["layer_1.weight"] == "layer_1.weight  [20, 10]  ✓ [20, 10]  ← module.layer1.weight"
    assert rows["fc2.weight"] == "fc2.weight      [5, 20]   ✗ [5, 30]   ← module.fc2.weight"
    assert rows["new.weight"] == "new.weight      [3, 3]    ✗ absent"


def test_check_text_counts_unchecked_tensors_and_never_ticks_them():
    from ckptlens.engine.model import Coverage

    partial = Coverage(tensors=122, checked=30, keys_only=7, unchecked=85)
    note = Finding("unverified", Severity.INFORMATION, SourceRange("/abs/m.py", 3, 0, 3, 3), "why")
    text = render_check_text(
        [note], class_name="Net", checkpoint_path="net.ckpt", matched=37, total=37, color=False,
        cwd="/abs", coverage=partial,
    )
    assert text.splitlines()[-1] == "? Net: 37/122 tensors checked · 85 not checked · 1 note · net.ckpt"
    assert "✓" not in text
    warning = Finding("unverified", Severity.WARNING, SourceRange("/abs/m.py", 3, 0, 3, 3), "why")
    failing = render_check_text(
        [warning], class_name="Net", checkpoint_path="net.ckpt", matched=37, total=37, color=False,
        cwd="/abs", coverage=partial,
    )
    assert failing.splitlines()[-1] == "✗ 1 finding · Net: 37/122 tensors checked · 85 not checked · net.ckpt"
    complete = Coverage(tensors=42, checked=40, keys_only=2, unchecked=0)
    clean = render_check_text(
        [], class_name="Net", checkpoint_path="net.ckpt", matched=42, total=42, color=False, coverage=complete
    )
    assert clean == "✓ Net: 42/42 tensors match · 2 by key only · net.ckpt\n"


def test_check_json_and_sarif_carry_coverage():
    from ckptlens.engine.model import Coverage

    cov = Coverage(tensors=5, checked=3, keys_only=1, unchecked=1)
    data = check_to_json([], cov)
    assert data == {"findings": [], "coverage": {"tensors": 5, "checked": 3, "keys_only": 1, "unchecked": 1}}
    log = check_to_sarif([], "0.1.0", cov)
    assert log["runs"][0]["properties"] == {"coverage": data["coverage"]}
