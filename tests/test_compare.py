"""The comparison: prefixes, renames, what is left, device/dtype notes, and the key mapping."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from ckptlens.checkpoint.index import TensorInfo
from ckptlens.engine.compare import Comparison, compare
from ckptlens.engine.compare_renames import name_similarity
from ckptlens.engine.keys import collapse_keys, common_leading_path, summarize_keys
from ckptlens.engine.messages import ShapeMismatch, ShapePair
from ckptlens.engine.model import shapes_compatible
from ckptlens.findings import (
    CUDA_TENSORS,
    DTYPE_DIFFERS,
    KEY_PREFIX,
    MISMATCH_CODES,
    MISSING_KEY,
    RENAMED_MODULE,
    SHAPE_MISMATCH,
    UNEXPECTED_KEY,
    UNVERIFIED,
    Finding,
    Severity,
)
from compare_helpers import (
    CLASS_LINE,
    FILE,
    Scenario,
    apply_mapping,
    build,
    ckpt,
    same,
    scenarios,
)

MLP = [
    ("fc1.weight", (20, 10)),
    ("fc1.bias", (20,)),
    ("fc2.weight", (5, 20)),
    ("fc2.bias", (5,)),
]


def codes(comparison: Comparison) -> list[str]:
    return [f.code for f in comparison.findings]


def only(comparison: Comparison, code: str) -> Finding:
    found = [f for f in comparison.findings if f.code == code]
    assert len(found) == 1, comparison.findings
    return found[0]


def check_invariant(predicted, tensors, comparison: Comparison) -> None:
    """Applying the mapping and discarding `dropped` gives the model's keys minus `missing`
    (plus keys presumed to belong to unknown parts), with compatible shapes."""
    mapping = comparison.mapping
    assert set(mapping.mapping).isdisjoint(mapping.dropped)
    assert set(mapping.mapping) | set(mapping.dropped) == set(tensors)
    assert len(set(mapping.mapping.values())) == len(mapping.mapping), "duplicate targets"
    result = apply_mapping(mapping.mapping, mapping.dropped, tensors)
    known = [k for k in predicted.tensors if not predicted.is_unknown(k)]
    assert mapping.missing == [k for k in known if k in set(mapping.missing)], "model order"
    assert set(mapping.missing) <= set(known)
    assert {k for k in result if not predicted.is_unknown(k)} == set(known) - set(mapping.missing)
    for key, info in result.items():
        if key in predicted.tensors and not predicted.is_unknown(key):
            assert shapes_compatible(predicted.tensors[key].shape, info.shape), key
    assert comparison.matched == len(known) - len(mapping.missing)
    assert comparison.total == len(known)


# -- clean ----------------------------------------------------------------------------------


def test_clean_checkpoint_gives_nothing_and_identity():
    predicted = build(MLP)
    tensors = same(MLP)
    result = compare(predicted, tensors)
    assert result.findings == ()
    assert result.mapping.mapping == {k: k for k, _ in MLP}
    assert result.mapping.dropped == [] and result.mapping.missing == []
    assert (result.matched, result.total) == (4, 4)
    assert result.prefix is None and result.renames == ()


def test_empty_everything():
    result = compare(build([]), {})
    assert result.findings == () and (result.matched, result.total) == (0, 0)


def test_empty_checkpoint_all_missing():
    result = compare(build(MLP), {})
    assert codes(result) == [MISSING_KEY, MISSING_KEY]
    assert result.mapping.missing == [k for k, _ in MLP]
    assert result.findings[0].model_keys == ("fc1.weight", "fc1.bias")


def test_model_without_tensors_all_unexpected():
    result = compare(build([]), same(MLP))
    finding = only(result, UNEXPECTED_KEY)
    assert finding.checkpoint_keys == tuple(k for k, _ in MLP)
    assert finding.range.start_line == CLASS_LINE
    assert result.mapping.dropped == [k for k, _ in MLP]


def test_tied_weights_both_keys_present():
    spec = [("embed.weight", (100, 8)), ("lm_head.weight", (100, 8))]
    predicted = build(spec)
    result = compare(predicted, same(spec))
    assert result.findings == ()
    assert result.mapping.mapping == {
        "embed.weight": "embed.weight",
        "lm_head.weight": "lm_head.weight",
    }


# -- prefixes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "who"),
    [
        ("module.", "DataParallel/DistributedDataParallel"),
        ("_orig_mod.", "torch.compile"),
        ("model.", "Lightning"),
        ("_fsdp_wrapped_module.", "FSDP"),
        (
            "module._orig_mod.",
            "DataParallel/DistributedDataParallel wrapper around a torch.compile",
        ),
        ("_orig_mod.module.", "torch.compile'd model around a DataParallel"),
    ],
)
def test_wrapper_prefix_is_one_key_prefix_finding(prefix: str, who: str):
    predicted = build(MLP)
    tensors = same((prefix + k, s) for k, s in MLP)
    result = compare(predicted, tensors)
    assert codes(result) == [KEY_PREFIX]
    finding = result.findings[0]
    assert finding.severity is Severity.ERROR
    assert finding.checkpoint_prefix == prefix[:-1]
    assert finding.model_prefix is None
    assert finding.checkpoint_keys == tuple(tensors)
    assert finding.model_keys == tuple(k for k, _ in MLP)
    assert finding.range.start_line == CLASS_LINE
    assert finding.message.startswith(f'every checkpoint key starts with "{prefix}" (saved from ')
    assert who in finding.message
    assert finding.message.endswith("strip it before load_state_dict")
    assert result.mapping.mapping == {prefix + k: k for k, _ in MLP}
    assert (result.matched, result.total) == (4, 4)
    assert result.prefix is not None and result.prefix.strip == prefix
    check_invariant(predicted, tensors, result)


def test_common_leading_path_of_the_checkpoint_is_stripped():
    predicted = build(MLP)
    tensors = same(("encoder.inner." + k, s) for k, s in MLP)
    result = compare(predicted, tensors)
    finding = only(result, KEY_PREFIX)
    assert finding.checkpoint_prefix == "encoder.inner"
    assert "holds this one as `encoder.inner`" in finding.message
    assert codes(result) == [KEY_PREFIX]


def test_reverse_prefix_checkpoint_saved_from_the_inner_module():
    spec = [("model." + k, s) for k, s in MLP]
    predicted = build(spec)
    tensors = same(MLP)
    result = compare(predicted, tensors)
    assert codes(result) == [KEY_PREFIX]
    finding = result.findings[0]
    assert (finding.checkpoint_prefix, finding.model_prefix) == ("", "model")
    assert finding.checkpoint_keys == tuple(k for k, _ in MLP)
    assert finding.model_keys == tuple(k for k, _ in spec)
    assert "add it before load_state_dict" in finding.message
    assert result.mapping.mapping == {k: "model." + k for k, _ in MLP}
    assert result.prefix is not None and result.prefix.add == "model."


def test_reverse_base_model_prefix_with_a_head_left_missing():
    base = [("embeddings.weight", (50, 8)), ("encoder.0.weight", (8, 8)), ("encoder.0.bias", (8,))]
    spec = [("bert." + k, s) for k, s in base] + [
        ("classifier.weight", (2, 8)),
        ("classifier.bias", (2,)),
    ]
    predicted = build(spec, base_model_prefixes=("bert",))
    result = compare(predicted, same(base))
    assert codes(result) == [KEY_PREFIX, MISSING_KEY]
    assert only(result, KEY_PREFIX).model_prefix == "bert"
    assert only(result, MISSING_KEY).model_keys == ("classifier.weight", "classifier.bias")
    assert result.mapping.missing == ["classifier.weight", "classifier.bias"]


def test_base_model_prefix_stripped_with_the_head_left_unexpected():
    base = [("embeddings.weight", (50, 8)), ("encoder.0.weight", (8, 8))]
    predicted = build(base, base_model_prefixes=("bert",))
    tensors = same([("bert." + k, s) for k, s in base] + [("cls.weight", (50, 8))])
    result = compare(predicted, tensors)
    assert codes(result) == [KEY_PREFIX, UNEXPECTED_KEY]
    prefix = only(result, KEY_PREFIX)
    assert prefix.checkpoint_prefix == "bert"
    assert "holds this one as `bert`" in prefix.message
    assert only(result, UNEXPECTED_KEY).checkpoint_keys == ("cls.weight",)


def test_extra_prefixes_are_tried():
    tensors = same([("ema." + k, s) for k, s in MLP] + [("step", ())])
    assert KEY_PREFIX not in codes(compare(build(MLP), tensors))  # not a known wrapper
    result = compare(build(MLP), tensors, extra_prefixes=["ema."])
    assert codes(result) == [KEY_PREFIX, UNEXPECTED_KEY]
    assert only(result, KEY_PREFIX).checkpoint_prefix == "ema"


def test_strip_with_a_clearly_unexpected_extra_key():
    """AveragedModel saves `module.*` plus `n_averaged`: still a prefix, plus one unexpected key."""
    predicted = build(MLP)
    tensors = same([("module." + k, s) for k, s in MLP] + [("n_averaged", ())])
    result = compare(predicted, tensors)
    assert codes(result) == [KEY_PREFIX, UNEXPECTED_KEY]
    prefix = only(result, KEY_PREFIX)
    assert prefix.message.startswith('4 of 5 checkpoint keys start with "module."')
    assert prefix.checkpoint_keys == tuple("module." + k for k, _ in MLP)
    assert only(result, UNEXPECTED_KEY).checkpoint_keys == ("n_averaged",)
    assert result.mapping.dropped == ["n_averaged"]


def test_no_prefix_when_the_unprefixed_keys_already_fit():
    predicted = build(MLP + [("module.x.weight", (3,))])
    tensors = same(MLP)  # fits but for one missing key: stripping nothing
    result = compare(predicted, tensors)
    assert codes(result) == [MISSING_KEY]
    assert result.prefix is None


def test_replaced_leading_part_is_a_rename_not_a_prefix():
    spec = [("net.0.weight", (4, 3)), ("net.0.bias", (4,)), ("net.2.weight", (2, 4))]
    predicted = build(spec, lines={"net": 12})
    tensors = same(("model" + k[3:], s) for k, s in spec)
    result = compare(predicted, tensors)
    assert codes(result) == [RENAMED_MODULE]
    finding = result.findings[0]
    assert (finding.model_prefix, finding.checkpoint_prefix) == ("net", "model")
    assert finding.range.start_line == 12
    check_invariant(predicted, tensors, result)


# -- renames --------------------------------------------------------------------------------


def test_layer_1_renamed_layer1_exactly_as_in_spec():
    spec = [("layer_1.weight", (20, 10)), ("layer_1.bias", (20,)), ("fc2.weight", (5, 20))]
    predicted = build(spec, lines={"layer_1": 12})
    tensors = same([("layer1.weight", (20, 10)), ("layer1.bias", (20,)), ("fc2.weight", (5, 20))])
    result = compare(predicted, tensors)
    assert [f.to_json() for f in result.findings] == [
        {
            "code": "renamed-module",
            "severity": "error",
            "file": FILE,
            "line": 12,
            "column": 9,
            "message": "`self.layer_1`: the checkpoint holds these weights as `layer1` (2 tensors)",
            "model_keys": ["layer_1.weight", "layer_1.bias"],
            "checkpoint_keys": ["layer1.weight", "layer1.bias"],
            "model_prefix": "layer_1",
            "checkpoint_prefix": "layer1",
        }
    ]
    assert result.renames == (("layer1", "layer_1"),)
    assert result.mapping.mapping["layer1.bias"] == "layer_1.bias"
    assert (result.matched, result.total) == (3, 3)


def test_conv1_convolution_one_by_name_similarity():
    spec = [
        ("conv1.weight", (8, 3, 3, 3)),
        ("conv1.bias", (8,)),
        ("conv2.weight", (8, 3, 3, 3)),
        ("conv2.bias", (8,)),
    ]
    predicted = build(spec)
    tensors = same(
        [
            ("convolution_two.weight", (8, 3, 3, 3)),
            ("convolution_two.bias", (8,)),
            ("convolution_one.weight", (8, 3, 3, 3)),
            ("convolution_one.bias", (8,)),
        ]
    )
    result = compare(predicted, tensors)
    assert codes(result) == [RENAMED_MODULE, RENAMED_MODULE]
    pairs = [(f.model_prefix, f.checkpoint_prefix) for f in result.findings]
    assert pairs == [("conv1", "convolution_one"), ("conv2", "convolution_two")]
    check_invariant(predicted, tensors, result)


def test_name_similarity_prefers_the_same_words():
    assert name_similarity("layer_1", "layer1") == 1.0
    assert name_similarity("conv1", "convolution_one") > name_similarity("conv1", "convolution_two")
    assert name_similarity("blockA", "block_a") == 1.0


def test_nested_rename():
    spec = [
        ("encoder.block_1.weight", (4, 4)),
        ("encoder.block_1.bias", (4,)),
        ("encoder.block_2.weight", (4, 4)),
        ("encoder.block_2.bias", (4,)),
    ]
    predicted = build(spec, lines={"encoder.block_1": 30})
    tensors = same(
        [
            ("encoder.block1.weight", (4, 4)),
            ("encoder.block1.bias", (4,)),
            ("encoder.block_2.weight", (4, 4)),
            ("encoder.block_2.bias", (4,)),
        ]
    )
    result = compare(predicted, tensors)
    finding = only(result, RENAMED_MODULE)
    assert codes(result) == [RENAMED_MODULE]
    assert (finding.model_prefix, finding.checkpoint_prefix) == (
        "encoder.block_1",
        "encoder.block1",
    )
    assert finding.range.start_line == 30
    assert finding.message.startswith(
        "`encoder.block_1`: the checkpoint holds these weights as `encoder.block1`"
    )


def _resnet_like(root: str) -> list[tuple[str, tuple[int, ...]]]:
    spec = [
        (f"{root}.conv1.weight", (64, 3, 7, 7)),
        (f"{root}.bn1.weight", (64,)),
        (f"{root}.bn1.bias", (64,)),
    ]
    for layer in range(1, 5):
        for block in range(2):
            for name in ("conv1", "conv2"):
                spec.append(
                    (f"{root}.layer{layer}.{block}.{name}.weight", (64 * layer, 64 * layer, 3, 3))
                )
            for stat in ("weight", "bias", "running_mean", "running_var"):
                spec.append((f"{root}.layer{layer}.{block}.bn.{stat}", (64 * layer,)))
    return spec


def test_whole_backbone_renamed_is_one_finding():
    model = _resnet_like("backbone") + [("head.weight", (10, 256)), ("head.bias", (10,))]
    ck = _resnet_like("resnet") + [("head.weight", (10, 256)), ("head.bias", (10,))]
    assert len(model) > 40
    predicted = build(model, lines={"backbone": 15})
    tensors = same(ck)
    result = compare(predicted, tensors)
    assert codes(result) == [RENAMED_MODULE]
    finding = result.findings[0]
    assert (finding.model_prefix, finding.checkpoint_prefix) == ("backbone", "resnet")
    assert len(finding.model_keys) == len(model) - 2
    assert finding.checkpoint_keys == tuple(k for k, _ in ck[:-2])
    assert finding.range.start_line == 15
    assert f"({len(model) - 2} tensors)" in finding.message
    check_invariant(predicted, tensors, result)


def test_prefix_and_rename_together():
    spec = [("layer_1.weight", (20, 10)), ("layer_1.bias", (20,)), ("fc2.weight", (5, 20))]
    predicted = build(spec)
    tensors = same(
        [
            ("module.layer1.weight", (20, 10)),
            ("module.layer1.bias", (20,)),
            ("module.fc2.weight", (5, 20)),
        ]
    )
    result = compare(predicted, tensors)
    assert codes(result) == [KEY_PREFIX, RENAMED_MODULE]
    rename = only(result, RENAMED_MODULE)
    assert (rename.model_prefix, rename.checkpoint_prefix) == ("layer_1", "layer1")
    assert rename.checkpoint_keys == ("module.layer1.weight", "module.layer1.bias")
    assert only(result, KEY_PREFIX).checkpoint_prefix == "module"
    assert result.renames == (("layer1", "layer_1"),)
    assert result.mapping.mapping == {
        "module.layer1.weight": "layer_1.weight",
        "module.layer1.bias": "layer_1.bias",
        "module.fc2.weight": "fc2.weight",
    }
    check_invariant(predicted, tensors, result)


def test_lone_parameter_renamed_when_unambiguous():
    spec = MLP + [("cls_token", (1, 20))]
    predicted = build(spec, lines={"cls_token": 14})
    tensors = same(MLP + [("class_token", (1, 20))])
    result = compare(predicted, tensors)
    finding = only(result, RENAMED_MODULE)
    assert codes(result) == [RENAMED_MODULE]
    assert (finding.model_prefix, finding.checkpoint_prefix) == ("cls_token", "class_token")
    assert finding.range.start_line == 14
    assert finding.message == "`self.cls_token`: the checkpoint holds this tensor as `class_token`"


def test_lone_parameter_not_renamed_when_ambiguous():
    spec = MLP + [("cls_token", (1, 20))]
    predicted = build(spec)
    tensors = same(MLP + [("alpha", (1, 20)), ("beta", (1, 20))])
    result = compare(predicted, tensors)
    assert codes(result) == [MISSING_KEY, UNEXPECTED_KEY]


def test_lone_parameter_renamed_to_the_clear_best_name_among_several():
    spec = MLP + [("cls_token", (1, 20))]
    predicted = build(spec)
    tensors = same(MLP + [("class_token", (1, 20)), ("dist_token", (1, 20))])
    result = compare(predicted, tensors)
    assert codes(result) == [RENAMED_MODULE, UNEXPECTED_KEY]
    assert only(result, RENAMED_MODULE).checkpoint_prefix == "class_token"
    assert only(result, UNEXPECTED_KEY).checkpoint_keys == ("dist_token",)


def test_per_layer_lone_renames_inside_renamed_blocks():
    """`norm1` -> `ln_1` and `q_proj` -> `q` in every layer (the layers themselves all differ)."""
    model: list[tuple[str, tuple[int, ...]]] = []
    checkpoint: list[tuple[str, tuple[int, ...]]] = []
    for i in range(4):
        for name in ("q_proj", "k_proj"):
            model.append((f"layers.{i}.attn.{name}.weight", (8, 8)))
            checkpoint.append((f"layers.{i}.attn.{name[0]}.weight", (8, 8)))
        model.append((f"layers.{i}.norm1.weight", (8,)))
        checkpoint.append((f"layers.{i}.ln_1.weight", (8,)))
    predicted = build(model)
    tensors = same(checkpoint)
    result = compare(predicted, tensors)
    assert set(codes(result)) == {RENAMED_MODULE}
    pairs = {(f.model_prefix, f.checkpoint_prefix) for f in result.findings}
    assert ("layers.2.attn.k_proj", "layers.2.attn.k") in pairs
    assert ("layers.3.norm1", "layers.3.ln_1") in pairs
    assert len(pairs) == 12
    check_invariant(predicted, tensors, result)


def test_part_of_a_missing_module_is_not_a_lone_rename():
    spec = MLP + [("layer3.weight", (30, 30)), ("layer3.bias", (30,))]
    predicted = build(spec)
    tensors = same(MLP + [("old_scale", (30, 30))])
    result = compare(predicted, tensors)
    assert codes(result) == [MISSING_KEY, UNEXPECTED_KEY]


def test_single_tensor_module_renamed_at_module_level():
    spec = MLP + [("proj.weight", (7, 20))]
    predicted = build(spec, lines={"proj": 16})
    tensors = same(MLP + [("projection.weight", (7, 20))])
    finding = only(compare(predicted, tensors), RENAMED_MODULE)
    assert (finding.model_prefix, finding.checkpoint_prefix) == ("proj", "projection")
    assert finding.range.start_line == 16


def test_a_partly_matched_module_is_not_renamed():
    """`encoder.a` is missing and `enc.a` unexpected, but `encoder.b` matched: no encoder~enc."""
    spec = [("encoder.a.weight", (3, 3)), ("encoder.a.bias", (3,)), ("encoder.b.weight", (2, 2))]
    predicted = build(spec)
    tensors = same([("enc.a.weight", (3, 3)), ("enc.a.bias", (3,)), ("encoder.b.weight", (2, 2))])
    result = compare(predicted, tensors)
    finding = only(result, RENAMED_MODULE)
    assert (finding.model_prefix, finding.checkpoint_prefix) == ("encoder.a", "enc.a")


# -- what is left ---------------------------------------------------------------------------


def test_added_layer_is_missing_at_its_line():
    spec = MLP + [("layer3.weight", (5, 5)), ("layer3.bias", (5,))]
    predicted = build(spec, lines={"layer3": 21})
    result = compare(predicted, same(MLP))
    finding = only(result, MISSING_KEY)
    assert codes(result) == [MISSING_KEY]
    assert finding.model_keys == ("layer3.weight", "layer3.bias")
    assert finding.checkpoint_keys == ()
    assert finding.range.start_line == 21
    assert finding.message == "missing key(s) in checkpoint: layer3.weight, layer3.bias"
    assert result.mapping.missing == ["layer3.weight", "layer3.bias"]


def test_removed_layer_is_unexpected_at_the_class():
    predicted = build(MLP)
    tensors = same(MLP + [("head.weight", (3, 5)), ("head.bias", (3,))])
    result = compare(predicted, tensors)
    finding = only(result, UNEXPECTED_KEY)
    assert codes(result) == [UNEXPECTED_KEY]
    assert finding.checkpoint_keys == ("head.weight", "head.bias")
    assert finding.model_keys == ()
    assert finding.range.start_line == CLASS_LINE
    assert finding.message == "unexpected key(s) in checkpoint: head.weight, head.bias"
    assert result.mapping.dropped == ["head.weight", "head.bias"]


def test_unexpected_key_inside_an_existing_module_is_located_there():
    predicted = build(MLP + [("bn.weight", (5,))], lines={"bn": 18})
    tensors = same(MLP + [("bn.weight", (5,)), ("bn.num_batches_tracked", ())])
    finding = only(compare(predicted, tensors), UNEXPECTED_KEY)
    assert finding.range.start_line == 18


def test_hidden_20_to_30_is_a_torch_like_shape_mismatch():
    model = [
        ("fc1.weight", (30, 10)),
        ("fc1.bias", (30,)),
        ("fc2.weight", (5, 30)),
        ("fc2.bias", (5,)),
    ]
    predicted = build(model, lines={"fc1": 11, "fc2": 12})
    tensors = same(MLP)
    result = compare(predicted, tensors)
    assert codes(result) == [SHAPE_MISMATCH, SHAPE_MISMATCH]
    first, second = result.findings
    assert first.range.start_line == 11 and second.range.start_line == 12
    assert first.model_keys == ("fc1.weight", "fc1.bias") == first.checkpoint_keys
    assert second.model_keys == ("fc2.weight",) == second.checkpoint_keys
    assert first.message == (
        "size mismatch for fc1.weight: copying a param with shape [20, 10] from checkpoint, "
        "the shape in current model is [30, 10]; size mismatch for fc1.bias: copying a param "
        "with shape [20] from checkpoint, the shape in current model is [30]"
    )
    assert second.message == (
        "size mismatch for fc2.weight: copying a param with shape [5, 20] from checkpoint, "
        "the shape in current model is [5, 30]"
    )
    assert isinstance(first.details, ShapeMismatch)
    assert first.details.pairs[0] == ShapePair("fc1.weight", "fc1.weight", (20, 10), (30, 10))
    assert result.mapping.dropped == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert result.mapping.missing == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert (result.matched, result.total) == (1, 4)
    check_invariant(predicted, tensors, result)


def test_module_list_missing_is_one_collapsed_finding():
    spec = MLP + [
        (f"layers.{i}.{t}", (4, 4) if t == "weight" else (4,))
        for i in range(12)
        for t in ("weight", "bias")
    ]
    # the ModuleList and its items are created by one statement, as the interpreter reports
    predicted = build(spec, lines={"layers": 40, "layers.0": 40})
    result = compare(predicted, same(MLP))
    finding = only(result, MISSING_KEY)
    assert len(finding.model_keys) == 24
    assert finding.range.start_line == 40
    assert (
        finding.message
        == "missing key(s) in checkpoint: layers.{0..11}.weight, layers.{0..11}.bias"
    )


def test_long_messages_are_capped():
    spec = [(f"m{i}.weight", (2,)) for i in range(20)]
    predicted = build(spec, lines={f"m{i}": 50 for i in range(20)})
    finding = only(compare(predicted, {}), MISSING_KEY)
    assert finding.message.endswith("m5.weight and 14 more")


def test_rank_mismatch_is_a_shape_mismatch():
    predicted = build([("w", (4, 4))])
    finding = only(compare(predicted, ckpt([("w", (16,))])), SHAPE_MISMATCH)
    assert "[16]" in finding.message and "[4, 4]" in finding.message


# -- unknown parts --------------------------------------------------------------------------


def test_unknown_part_silences_everything_under_it_but_says_so():
    spec = MLP + [("backbone.known.weight", (3, 3))]
    predicted = build(spec, unknown=["backbone"])
    tensors = same(MLP + [("backbone.layer1.weight", (64, 3)), ("backbone.known.weight", (9, 9))])
    result = compare(predicted, tensors)
    # no mismatch under the unknown part: one `unverified` warning on the line building it
    (finding,) = result.findings
    assert finding.code == UNVERIFIED and finding.severity is Severity.WARNING
    assert finding.model_prefix == "backbone"
    assert finding.checkpoint_keys == ("backbone.layer1.weight", "backbone.known.weight")
    assert finding.range == predicted.unknown[0].origin
    assert "could not resolve it" in finding.message and "2 checkpoint tensors" in finding.message
    assert "--init" in finding.message
    assert result.mapping.mapping["backbone.layer1.weight"] == "backbone.layer1.weight"
    assert result.mapping.mapping["backbone.known.weight"] == "backbone.known.weight"
    assert result.mapping.dropped == [] and result.mapping.missing == []
    assert (result.matched, result.total) == (4, 4)
    assert result.coverage.to_json() == {"tensors": 6, "checked": 4, "keys_only": 0, "unchecked": 2}


def test_unverified_severity_can_be_lowered():
    predicted = build(MLP, unknown=["backbone"])
    result = compare(predicted, same(MLP + [("backbone.w", (1,))]), unverified_severity=Severity.INFORMATION)
    assert only(result, UNVERIFIED).severity is Severity.INFORMATION


def test_unknown_part_missing_from_checkpoint_is_silent():
    predicted = build(MLP, unknown=["backbone"])
    result = compare(predicted, same(MLP))
    assert result.findings == ()
    assert result.coverage.complete


def test_keys_under_unknown_part_keep_the_prefix_change():
    predicted = build(MLP, unknown=["backbone"])
    tensors = same([("module." + k, s) for k, s in MLP] + [("module.backbone.w", (1,))])
    result = compare(predicted, tensors)
    assert codes(result) == [KEY_PREFIX, UNVERIFIED]
    assert only(result, UNVERIFIED).checkpoint_keys == ("module.backbone.w",)
    assert result.mapping.mapping["module.backbone.w"] == "backbone.w"


def test_whole_model_unknown_is_never_a_fit():
    predicted = build([], unknown=[""])
    result = compare(predicted, same(MLP))
    finding = only(result, UNVERIFIED)
    assert finding.fails and finding.model_prefix is None
    assert finding.range.start_line == CLASS_LINE
    assert finding.checkpoint_keys == tuple(k for k, _ in MLP)
    assert [f.code for f in result.findings] == [UNVERIFIED]
    assert result.mapping.mapping == {k: k for k, _ in MLP}
    assert result.coverage.to_json() == {"tensors": 4, "checked": 0, "keys_only": 0, "unchecked": 4}


def test_innermost_unknown_part_takes_the_keys():
    predicted = build(MLP, unknown=["backbone", "backbone.stage1"])
    result = compare(predicted, same(MLP + [("backbone.stage1.w", (1,)), ("backbone.x", (1,))]))
    found = {f.model_prefix: f.checkpoint_keys for f in result.findings if f.code == UNVERIFIED}
    assert found == {"backbone": ("backbone.x",), "backbone.stage1": ("backbone.stage1.w",)}


def test_open_module_keeps_known_keys_checked_and_unexpected_unverified():
    # `self.add_module(*stage)` on `body` could not be followed: `body` may hold more keys
    spec = MLP + [("body.conv.weight", (8, 3))]
    predicted = build(spec, open_parts=["body"])
    tensors = same(MLP + [("body.conv.weight", (8, 3)), ("body.extra.weight", (2, 2)), ("stray.w", (1,))])
    result = compare(predicted, tensors)
    assert sorted(codes(result)) == [UNEXPECTED_KEY, UNVERIFIED]
    assert only(result, UNVERIFIED).checkpoint_keys == ("body.extra.weight",)
    assert "may hold submodules" in only(result, UNVERIFIED).message
    assert only(result, UNEXPECTED_KEY).checkpoint_keys == ("stray.w",)
    assert result.mapping.mapping["body.extra.weight"] == "body.extra.weight"
    assert result.coverage.to_json() == {"tensors": 7, "checked": 6, "keys_only": 0, "unchecked": 1}
    # its known keys are still compared: a changed dim is a mismatch
    bad = same(MLP + [("body.conv.weight", (9, 3))])
    assert codes(compare(predicted, bad)) == [SHAPE_MISMATCH]


def test_keys_only_coverage_counts_partly_unknown_shapes():
    predicted = build([("fc1.weight", (None, 10)), ("fc1.bias", (20,))])
    result = compare(predicted, same(MLP[:2]))
    assert result.coverage.to_json() == {"tensors": 2, "checked": 1, "keys_only": 1, "unchecked": 0}


@pytest.mark.parametrize("shape", [(None, 10), (20, None), None])
def test_unknown_dims_never_mismatch(shape):
    predicted = build([("fc1.weight", shape), ("fc1.bias", (None,))])
    result = compare(predicted, same(MLP[:2]))
    assert result.findings == ()
    assert result.matched == 2


def test_unknown_dim_still_mismatches_on_known_dims():
    predicted = build([("fc1.weight", (None, 11))])
    assert codes(compare(predicted, same(MLP[:1]))) == [SHAPE_MISMATCH]


# -- notes ----------------------------------------------------------------------------------


def test_cuda_and_dtype_notes():
    predicted = build(MLP)
    tensors = ckpt(MLP, dtype="float16", device="cuda:0")
    result = compare(predicted, tensors)
    assert codes(result) == [CUDA_TENSORS, DTYPE_DIFFERS]
    cuda, dtype = result.findings
    assert cuda.severity is Severity.INFORMATION and dtype.severity is Severity.INFORMATION
    assert not cuda.fails and not dtype.fails
    assert cuda.range.start_line == CLASS_LINE
    assert cuda.message == (
        "4 checkpoint tensors were saved from cuda:0: pass map_location='cpu' to torch.load "
        "on a machine without CUDA"
    )
    assert dtype.message == (
        "checkpoint holds 4 float16 tensors; load_state_dict copies them into the model's "
        "float32 tensors"
    )


def test_no_notes_for_cpu_float32_and_integer_buffers():
    spec = MLP + [("bn.num_batches_tracked", ())]
    predicted = build(
        spec, dtypes={"bn.num_batches_tracked": "int64"}, buffers=["bn.num_batches_tracked"]
    )
    tensors = same(MLP) | ckpt([("bn.num_batches_tracked", ())], dtype="int64")
    assert compare(predicted, tensors).findings == ()


def test_mismatch_findings_are_errors():
    predicted = build(MLP + [("x.weight", (1,))])
    tensors = same([("module." + k, s) for k, s in MLP] + [("module.y.w", (1, 2))])
    for finding in compare(predicted, tensors).findings:
        if finding.code in MISMATCH_CODES:
            assert finding.severity is Severity.ERROR and finding.fails


# -- the mapping invariant, on random models --------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_mapping_invariant_on_random_perturbations(scenario: Scenario):
    predicted = scenario.predicted()
    result = compare(predicted, scenario.checkpoint)
    check_invariant(predicted, scenario.checkpoint, result)
    if not scenario.perturbed:
        assert not [f for f in result.findings if f.is_mismatch]
        assert result.mapping.mapping == {k: k for k in scenario.checkpoint}
    # Every finding points at the model file and carries what SPEC says it must.
    for finding in result.findings:
        assert finding.range.file == FILE
        if finding.code == MISSING_KEY:
            assert finding.model_keys
        elif finding.code == UNEXPECTED_KEY:
            assert finding.checkpoint_keys
        elif finding.code in (SHAPE_MISMATCH, RENAMED_MODULE):
            assert finding.model_keys and finding.checkpoint_keys
        if finding.code == RENAMED_MODULE:
            assert finding.model_prefix and finding.checkpoint_prefix is not None
        if finding.code == KEY_PREFIX:
            assert finding.checkpoint_prefix is not None
    # A prefix or a rename is not also reported as the keys it explains.
    explained = {
        k for f in result.findings if f.code in (KEY_PREFIX, RENAMED_MODULE) for k in f.model_keys
    }
    reported_missing = {k for f in result.findings if f.code == MISSING_KEY for k in f.model_keys}
    assert not explained & reported_missing
    renamed = {k for f in result.findings if f.code == RENAMED_MODULE for k in f.checkpoint_keys}
    reported_unexpected = {
        k for f in result.findings if f.code == UNEXPECTED_KEY for k in f.checkpoint_keys
    }
    assert not renamed & reported_unexpected
    # Nothing is ever reported under an unknown part.
    for finding in result.findings:
        assert not any(predicted.is_unknown(k) for k in finding.model_keys)


def test_mapping_is_ready_for_a_re_check():
    """After applying the mapping, comparing again finds no prefix, rename or unexpected key."""
    spec = [
        ("layer_1.weight", (20, 10)),
        ("layer_1.bias", (20,)),
        ("fc2.weight", (5, 20)),
        ("new.weight", (2,)),
    ]
    predicted = build(spec)
    tensors = same(
        [
            ("module.layer1.weight", (20, 10)),
            ("module.layer1.bias", (20,)),
            ("module.fc2.weight", (5, 20)),
            ("module.old.weight", (3, 3)),
        ]
    )
    first = compare(predicted, tensors)
    remapped = apply_mapping(first.mapping.mapping, first.mapping.dropped, tensors)
    again = compare(predicted, remapped)
    assert codes(again) == [MISSING_KEY]
    assert again.mapping.missing == first.mapping.missing


# -- keys.py --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            [f"layers.{i}.attn.q_proj.weight" for i in range(12)],
            ["layers.{0..11}.attn.q_proj.weight"],
        ),
        (["a.0.w", "a.2.w", "a.5.w"], ["a.{0, 2, 5}.w"]),
        (["a.0.w", "a.1.w"], ["a.{0, 1}.w"]),
        (["a.0.w", "a.1.w", "a.2.w", "a.7.w"], ["a.{0..2, 7}.w"]),
        (
            [f"l.{i}.b.{j}.w" for i in range(3) for j in range(4)],
            ["l.{0..2}.b.{0..3}.w"],
        ),
        (["l.0.b.0.w", "l.0.b.1.w", "l.1.b.0.w"], ["l.0.b.{0, 1}.w", "l.1.b.0.w"]),
        (["x.w", "x.b", "y.0.w", "y.1.w", "x.w"], ["x.w", "x.b", "y.{0, 1}.w"]),
        (["a.01.w", "a.1.w"], ["a.01.w", "a.1.w"]),
        ([], []),
    ],
)
def test_collapse_keys(keys, expected):
    assert collapse_keys(keys) == expected


def test_summarize_keys_counts_keys_not_patterns():
    keys = [f"p{j}.{i}.w" for j in range(8) for i in range(3)]
    assert summarize_keys(keys, limit=6).endswith("p5.{0..2}.w and 6 more")


def test_common_leading_path():
    assert common_leading_path(["a.b.c", "a.b.d.e"]) == "a.b"
    assert common_leading_path(["a.b", "c.d"]) == ""
    assert common_leading_path(["w"]) == ""


# -- against real torch ---------------------------------------------------------------------


def _predicted_from_module(module, lines: dict[str, int] | None = None):
    """A PredictedStateDict built from a real module's state_dict (keys, shapes, dtypes, kinds),
    with fake origins: what a perfect static prediction would give."""
    params = {name for name, _ in module.named_parameters(remove_duplicate=False)}
    state = module.state_dict(keep_vars=True)
    spec = [(key, tuple(t.shape)) for key, t in state.items()]
    return build(
        spec,
        lines=lines,
        dtypes={key: str(t.dtype).removeprefix("torch.") for key, t in state.items()},
        buffers=[key for key in state if key not in params],
    )


def test_torch_load_state_dict_accepts_the_mapping():
    torch = pytest.importorskip("torch")
    from torch import nn

    class Net(nn.Module):
        def __init__(self, old: bool) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3)
            self.bn = nn.BatchNorm2d(8)
            if old:
                self.layer1 = nn.Linear(8, 16)
                self.class_token = nn.Parameter(torch.randn(1, 16))
                self.old_head = nn.Linear(16, 2)
            else:
                self.layer_1 = nn.Linear(8, 16)
                self.cls_token = nn.Parameter(torch.randn(1, 16))
                self.new_head = nn.Linear(16, 4)
            self.blocks = nn.ModuleList(nn.Linear(16, 16) for _ in range(3))
            self.emb = nn.Embedding(10, 16)
            self.out = nn.Linear(16, 10, bias=False)
            self.out.weight = self.emb.weight  # tied

    torch.manual_seed(0)
    saved = Net(old=True)
    torch.nn.init.uniform_(saved.bn.running_mean)
    wrapped = nn.DataParallel(saved)  # keys gain "module."
    state = wrapped.state_dict()
    state["module.blocks.2.bias"] = torch.zeros(5)  # a wrong shape
    del state["module.blocks.1.weight"]  # a missing tensor

    model = Net(old=False)
    predicted = _predicted_from_module(model)
    tensors = {
        key: TensorInfo(tuple(t.shape), str(t.dtype).removeprefix("torch."), t.device.type)
        for key, t in state.items()
    }
    result = compare(predicted, tensors)

    assert [f.code for f in result.findings if f.is_mismatch] == [
        KEY_PREFIX,
        RENAMED_MODULE,
        RENAMED_MODULE,
        SHAPE_MISMATCH,
        MISSING_KEY,
        MISSING_KEY,
        UNEXPECTED_KEY,
    ]
    renames = {
        (f.model_prefix, f.checkpoint_prefix) for f in result.findings if f.code == RENAMED_MODULE
    }
    assert renames == {("layer_1", "layer1"), ("cls_token", "class_token")}
    check_invariant(predicted, tensors, result)

    remapped = {
        result.mapping.mapping[k]: v for k, v in state.items() if k in result.mapping.mapping
    }
    outcome = model.load_state_dict(remapped, strict=not result.mapping.missing)
    assert sorted(outcome.missing_keys) == sorted(result.mapping.missing)
    assert outcome.unexpected_keys == []
    loaded = model.state_dict()
    for old_key, new_key in result.mapping.mapping.items():
        assert torch.equal(loaded[new_key], state[old_key]), new_key

    # The generated function does the same to the real tensors.
    from ckptlens.engine.mapping_code import render_python

    namespace: dict = {}
    exec(render_python(result), namespace)
    again = namespace["remap_state_dict"](state)
    assert again.keys() == remapped.keys()
    assert all(again[k] is remapped[k] for k in again)
    strict_ok = Net(old=False)
    strict_ok.load_state_dict(again, strict=False)


def test_torch_clean_and_compiled_prefix():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    predicted = _predicted_from_module(model)
    tensors = {k: TensorInfo(tuple(v.shape), "float32") for k, v in model.state_dict().items()}
    assert compare(predicted, tensors).findings == ()
    compiled = {"_orig_mod." + k: v for k, v in tensors.items()}
    result = compare(predicted, compiled)
    assert [f.code for f in result.findings] == [KEY_PREFIX]
    assert result.findings[0].checkpoint_prefix == "_orig_mod"
