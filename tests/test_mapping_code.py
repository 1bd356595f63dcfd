"""The generated key-mapping function: it does what the KeyMapping says, and reads back."""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ckptlens.engine.compare import Comparison, compare
from ckptlens.engine.mapping_code import (
    ParsedMapping,
    apply_parsed_mapping,
    find_mapping_functions,
    mapping_plan,
    parse_mapping_code,
    remap_tensors,
    render_python,
)
from compare_helpers import Scenario, apply_mapping, build, same, scenarios

SPEC = [
    ("layer_1.weight", (20, 10)),
    ("layer_1.bias", (20,)),
    ("fc2.weight", (5, 20)),
    ("fc2.bias", (5,)),
    ("cls_token", (1, 20)),
    ("new_head.weight", (3, 5)),
]
CHECKPOINT = same(
    [
        ("module.layer1.weight", (20, 10)),
        ("module.layer1.bias", (20,)),
        ("module.fc2.weight", (5, 30)),  # wrong shape: dropped, fc2.weight stays missing
        ("module.fc2.bias", (5,)),
        ("module.class_token", (1, 20)),
        ("module.decoder.0.weight", (4, 4)),
        ("module.decoder.0.bias", (4,)),
        ("module.decoder.1.weight", (4, 4)),
        ("module.stray", (2,)),
    ]
)


def _comparison() -> Comparison:
    return compare(build(SPEC), CHECKPOINT)


def run_generated(
    source: str, state_dict: dict[str, Any], name: str = "remap_state_dict"
) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # the test may execute it
    return namespace[name](state_dict)


def test_generated_function_is_data_and_exact():
    comparison = _comparison()
    source = render_python(comparison, class_name="Net")
    assert source.startswith("def remap_state_dict(state_dict):\n")
    assert '    STRIP_PREFIX = "module."\n' in source
    assert '    ADD_PREFIX = ""\n' in source
    assert '        "layer1.": "layer_1.",\n' in source
    assert '        "class_token": "cls_token",\n' in source
    assert '        "module.decoder.",\n' in source  # a whole dropped subtree
    assert "Still missing (load with strict=False):" in source
    assert "fc2.weight, new_head.weight" in source
    assert "import" not in source
    ast.parse(source)
    # RENAMES longest first.
    plan = mapping_plan(comparison)
    lengths = [len(old) for old, _ in plan.renames]
    assert lengths == sorted(lengths, reverse=True)
    assert plan.drop == ("module.fc2.weight", "module.stray")
    assert plan.drop_prefixes == ("module.decoder.",)


def test_generated_function_equals_the_key_mapping():
    comparison = _comparison()
    state = {key: f"tensor:{key}" for key in CHECKPOINT}
    out = run_generated(render_python(comparison), state)
    expected = apply_mapping(comparison.mapping.mapping, comparison.mapping.dropped, state)
    assert out == expected
    assert set(out) == {k for k, _ in SPEC} - set(comparison.mapping.missing)


def test_parse_round_trip_and_apply():
    comparison = _comparison()
    source = render_python(comparison, function_name="fix_keys")
    parsed = parse_mapping_code(source)
    assert parsed is not None
    assert parsed.function_name == "fix_keys"
    expected = mapping_plan(comparison, function_name="fix_keys")
    assert parsed == dataclasses.replace(expected, line=1)
    mapping, dropped = apply_parsed_mapping(parsed, CHECKPOINT)
    assert mapping == comparison.mapping.mapping
    assert sorted(dropped) == sorted(comparison.mapping.dropped)
    # The engine can re-check the remapped checkpoint: no prefix, rename or unexpected key left.
    again = compare(build(SPEC), remap_tensors(parsed, CHECKPOINT))
    assert [f.code for f in again.findings] == ["missing-key", "missing-key"]


def test_identity_mapping_code():
    spec = [("fc.weight", (2, 2))]
    comparison = compare(build(spec), same(spec))
    source = render_python(comparison)
    assert "Every model key is filled" in source
    assert "    RENAMES = {}\n" in source and "    DROP = set()\n" in source
    parsed = parse_mapping_code(source)
    assert parsed == ParsedMapping(line=1)
    assert run_generated(source, {"fc.weight": 1}) == {"fc.weight": 1}


def test_reverse_prefix_code():
    spec = [("model.fc.weight", (2, 2)), ("model.fc.bias", (2,))]
    comparison = compare(build(spec), same([("fc.weight", (2, 2)), ("fc.bias", (2,))]))
    source = render_python(comparison)
    assert '    ADD_PREFIX = "model."\n' in source
    assert run_generated(source, {"fc.weight": 1, "fc.bias": 2}) == {
        "model.fc.weight": 1,
        "model.fc.bias": 2,
    }


def test_found_in_a_file_beside_other_code_and_in_a_class():
    body = render_python(_comparison(), indent="    ")
    source = (
        "import torch\n\n\nclass Net:\n    @staticmethod\n"
        + body
        + "\n\ndef other(state_dict):\n    return state_dict\n"
    )
    found = find_mapping_functions(source)
    assert [(p.function_name, p.line) for p in found] == [("remap_state_dict", 6)]
    assert parse_mapping_code(source, "other") is None
    assert parse_mapping_code(source, "remap_state_dict") == found[0]


def test_user_edits_to_the_constants_are_read():
    source = render_python(_comparison()).replace('"layer1.": "layer_1."', '"layer1.": "first."')
    parsed = parse_mapping_code(source)
    assert parsed is not None and ("layer1.", "first.") in parsed.renames


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.replace("            break\n", "            pass\n"),  # behaviour changed
        lambda s: s.replace('STRIP_PREFIX = "module."', "STRIP_PREFIX = PREFIX"),  # not a literal
        lambda s: s.replace("    DROP_PREFIXES = (\n", "    DROP_PREFIXES = [\n").replace(
            '        "module.decoder.",\n    )', '        "module.decoder.",\n    ]'
        ),
        lambda s: s.replace('    ADD_PREFIX = ""\n', ""),  # a constant missing
        lambda s: s.replace("def remap_state_dict(state_dict)", "def remap_state_dict(sd)"),
        lambda s: s + "\n)",  # a syntax error
    ],
)
def test_other_forms_are_not_recognised(edit):
    assert parse_mapping_code(edit(render_python(_comparison()))) is None


def test_strings_needing_escapes_round_trip():
    parsed = ParsedMapping(strip_prefix='we"ird.', renames=(("it's.", 'a"b.'),), drop=("x\\y",))
    source = render_python(parsed)
    assert parse_mapping_code(source) == ParsedMapping(
        strip_prefix='we"ird.', renames=(("it's.", 'a"b.'),), drop=("x\\y",), line=1
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_generated_and_parsed_mapping_agree_with_the_key_mapping(scenario: Scenario):
    comparison = compare(scenario.predicted(), scenario.checkpoint)
    expected = apply_mapping(
        comparison.mapping.mapping, comparison.mapping.dropped, scenario.checkpoint
    )
    source = render_python(comparison)
    assert run_generated(source, dict(scenario.checkpoint)) == expected
    parsed = parse_mapping_code(source)
    assert parsed is not None
    mapping, dropped = apply_parsed_mapping(parsed, scenario.checkpoint)
    assert mapping == comparison.mapping.mapping
    assert set(dropped) == set(comparison.mapping.dropped)
    assert remap_tensors(parsed, scenario.checkpoint) == expected


def _index(fmt: str, path: tuple[str, ...] = (), device: str = "cpu", entries=()) -> Any:
    from ckptlens.checkpoint.index import CheckpointIndex, TensorInfo

    tensors = {"fc.weight": TensorInfo((2, 2), "float32", device)}
    return CheckpointIndex("/x", fmt, path, tensors, entries=tuple(entries))


@pytest.mark.parametrize(
    ("index", "sentence", "code"),
    [
        (
            _index("torch-zip"),
            "The file is the state_dict itself.",
            "model.load_state_dict(remap_state_dict(torch.load(path)))",
        ),
        (
            _index("torch-zip", ("model", "state_dict"), entries=("model", "step")),
            'It takes what torch.load returns, whose state_dict sits at ["model"]["state_dict"], '
            "and drops the file's other entries (step); the state_dict itself works too.",
            "model.load_state_dict(remap_state_dict(torch.load(path)))",
        ),
        (
            _index("torch-legacy", device="cuda:0"),
            "The file is the state_dict itself.",
            'model.load_state_dict(remap_state_dict(torch.load(path, map_location="cpu")))',
        ),
        (
            _index("safetensors"),
            "The file is the state_dict itself.",
            "from safetensors.torch import load_file\n"
            "model.load_state_dict(remap_state_dict(load_file(path)))",
        ),
        (
            _index("hf-sharded"),
            "It takes the tensors of every file of the folder, in one dict.",
            "model.load_state_dict(remap_state_dict(state_dict))",
        ),
    ],
)
def test_docstring_says_where_the_state_dict_sits_and_how_to_load_it(index, sentence, code):
    spec = [("fc.weight", (2, 2))]
    source = render_python(compare(build(spec), same(spec)), checkpoint=index)
    doc = ast.get_docstring(ast.parse(source).body[0])
    assert doc is not None
    assert sentence in " ".join(doc.split())
    assert doc.split("\n\n")[-2] == textwrap.indent(code, "    ")
    unwraps = "    for entry in STATE_DICT_PATH:\n" in source
    assert unwraps == bool(index.state_dict_path)
    parsed = parse_mapping_code(source)
    assert parsed is not None and parsed.state_dict_path == index.state_dict_path
    wrapped: dict[str, Any] = {"fc.weight": 1}
    for entry in reversed(index.state_dict_path):
        wrapped = {entry: wrapped, "other": 0}
    assert run_generated(source, wrapped) == {"fc.weight": 1}
    assert run_generated(source, {"fc.weight": 1}) == {"fc.weight": 1}
