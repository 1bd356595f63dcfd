"""Issue 15, the patterns that left values unknown without a config: each on a small model
written here, checked against torch's own state_dict with no config and no --init at all, the
inferred values and the findings asserted exactly."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
import torch

from ckptlens.api import check
from ckptlens.engine.symbolic import Expr, solve_compound

MISMATCH = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}

SOURCE = '''
import torch
import torch.nn as nn


class GetattrDefault(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = getattr(config, "hidden_size", 64)
        inner = getattr(config, "intermediate_size", None) or 4 * hidden
        self.emb = nn.Embedding(config.vocab_size, hidden)
        self.up = nn.Linear(hidden, inner)
        self.down = nn.Linear(inner, hidden)


class OptionalInner(nn.Module):
    def __init__(self, config):
        super().__init__()
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.fc = nn.Linear(config.n_embd, inner)
        self.proj = nn.Linear(inner, config.n_embd)


class LowRank(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.q_lora_rank is None:
            self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        else:
            self.q_a_proj = nn.Linear(config.hidden_size, config.q_lora_rank)
            self.q_b_proj = nn.Linear(config.q_lora_rank, config.hidden_size)


class ManyOptional(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.pad = config.pad_token_id if config.pad_token_id is not None else 0
        self.drop = config.dropout if config.dropout is not None else 0.1
        self.act = config.act if config.act is not None else "gelu"
        self.eps = config.eps if config.eps is not None else 1e-5
        self.scale = config.scale if config.scale is not None else 1.0
        self.window = config.window if config.window is not None else 128
        self.body = nn.Linear(config.hidden_size, config.hidden_size)
        if config.extra_dim is not None:
            self.extra = nn.Linear(config.hidden_size, 4)


class Shallow(nn.Module):
    def __init__(self, config):
        super().__init__()
        import copy

        shallow = copy.deepcopy(config)
        shallow.num_layers = 1
        self.first = nn.ModuleList([nn.Linear(config.d, config.d) for _ in range(shallow.num_layers)])
        self.body = nn.ModuleList([nn.Linear(config.d, config.d) for _ in range(config.num_layers)])
        self.last = nn.ModuleList([nn.Linear(config.d, config.d) for _ in range(shallow.num_layers)])


class Named(nn.Module):
    def __init__(self, config):
        super().__init__()
        for i in range(config.num_hashes):
            setattr(self, f"embedder_{i}", nn.Embedding(config.buckets, config.d))
        self.out = nn.Linear(config.d, 2)


class Channels(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.cross = Attention(config.kv_dim, config.q_dim, config.qk_channels, config.v_channels)
        self.selfs = nn.ModuleList(
            [Attention(config.q_dim, config.q_dim, config.qk_channels, config.v_channels) for _ in range(3)]
        )


class Attention(nn.Module):
    def __init__(self, kv_dim, q_dim, qk_channels, v_channels):
        super().__init__()
        if qk_channels is None:
            qk_channels = kv_dim
        if v_channels is None:
            v_channels = qk_channels
        self.query = nn.Linear(q_dim, qk_channels)
        self.value = nn.Linear(kv_dim, v_channels)


class Heads(nn.Module):
    def __init__(self, config):
        super().__init__()
        inner = config.num_heads * config.head_dim
        self.q = nn.Linear(config.hidden_size, inner)
        self.k = nn.Linear(config.hidden_size, inner)
        self.v = nn.Linear(config.hidden_size, inner)
        self.o = nn.Linear(inner, config.hidden_size)


class Stages(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.stages = nn.ModuleList()
        for s in range(config.num_stages):
            first = sum(config.depths[:s])
            self.stages.append(
                nn.ModuleList([nn.Linear(config.dims[s], config.dims[s]) for i in range(first, first + config.depths[s])])
            )


class Blocks(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.blocks = nn.ModuleList(
            [nn.ModuleList([nn.Linear(config.d, config.d) for _ in range(size)]) for i, size in enumerate(config.block_sizes)]
        )
        self.norms = nn.ModuleList([nn.LayerNorm(config.d) for _ in range(len(config.block_sizes))])


class SetInBranch(nn.Module):
    def __init__(self, config, big):
        super().__init__()
        if big:
            config.hidden = 8
        self.fc = nn.Linear(config.hidden, 4)
        self.out = nn.Linear(4, config.n_out)
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("patterns") / "patterns.py"
    path.write_text(SOURCE)
    namespace: dict[str, Any] = {}
    exec(compile(SOURCE, str(path), "exec"), namespace)  # noqa: S102 - the test's own models
    return path, namespace


def _check(models: tuple[Path, dict[str, Any]], name: str, config: dict[str, Any], tmp_path: Path, edit: Any = None) -> Any:
    path, namespace = models
    state = dict(namespace[name](types.SimpleNamespace(**config)).state_dict())
    if edit is not None:
        edit(state)
    torch.save(state, tmp_path / "ckpt.pt")
    return check(path, name, tmp_path / "ckpt.pt")


def _mismatches(result: Any) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.code, f.model_keys) for f in result.findings if f.code in MISMATCH]


def test_getattr_with_a_default_reads_the_value_used(models: Any, tmp_path: Path) -> None:
    """`getattr(config, "x", default)` on a config nobody gave: the value used (the config's or
    the default), fixed by the checkpoint like any field; `getattr(..., None) or ...` present."""
    result = _check(models, "GetattrDefault", {"hidden_size": 32, "intermediate_size": 100, "vocab_size": 50}, tmp_path)
    assert result.inferred == {"config.hidden_size": 32, "config.intermediate_size": 100, "config.vocab_size": 50}
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == 5


def test_a_value_that_builds_the_same_model_as_none_is_not_reported(models: Any, tmp_path: Path) -> None:
    """`n_inner if n_inner is not None else 4 * n_embd`, saved with None: n_inner=64 and None
    build the same model, so n_inner is undetermined, and everything is checked."""
    result = _check(models, "OptionalInner", {"n_inner": None, "n_embd": 16}, tmp_path)
    assert result.inferred == {"config.n_embd": 16}
    assert result.inference.undetermined == ["config.n_inner"]
    assert result.inference.assumed == {"config.n_inner": 64}
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == 4

    def widen(state: dict[str, Any]) -> None:
        state["proj.weight"] = torch.zeros(16, 65)

    changed = _check(models, "OptionalInner", {"n_inner": None, "n_embd": 16}, tmp_path, widen)
    assert _mismatches(changed) == [("shape-mismatch", ("proj.weight",))]


@pytest.mark.parametrize("rank", [None, 8])
def test_the_keys_say_whether_an_optional_value_is_none(models: Any, tmp_path: Path, rank: int | None) -> None:
    result = _check(models, "LowRank", {"q_lora_rank": rank, "hidden_size": 24}, tmp_path)
    assert result.inferred == {"config.hidden_size": 24, "config.q_lora_rank": rank}
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors


def test_a_product_of_unknowns_checks_its_dims_and_never_names_its_factors(models: Any, tmp_path: Path) -> None:
    config = {"num_heads": 4, "head_dim": 8, "hidden_size": 24}
    result = _check(models, "Heads", config, tmp_path)
    assert result.inferred == {"config.hidden_size": 24}
    assert result.inference.undetermined == ["config.num_heads", "config.head_dim"]
    assert list(result.inference.compound.values()) == [32]
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == 8

    def widen(state: dict[str, Any]) -> None:
        state["o.weight"] = torch.zeros(24, 33)

    changed = _check(models, "Heads", config, tmp_path, widen)
    assert _mismatches(changed) == [("shape-mismatch", ("o.weight",))]


def test_solve_compound_takes_the_product_as_a_whole() -> None:
    heads, dim = Expr.var("heads"), Expr.var("dim")
    qkv = Expr.const(3).mul(heads.mul(dim))  # type: ignore[arg-type]
    assert qkv is not None
    assert solve_compound(qkv, 96, {}, {}) == (("dim", "heads"), 32)
    assert solve_compound(qkv, 97, {}, {}) is None  # not a multiple of 3
    assert solve_compound(heads, 4, {}, {}) is None  # one plain symbol: solve's
    assert solve_compound(qkv, 96, {"heads": 4}, {}) is None  # then `dim` is plain


def test_stage_lengths_from_slices_and_sums_of_a_list(models: Any, tmp_path: Path) -> None:
    """`range(sum(depths[:s]), sum(depths[:s]) + depths[s])`: a range whose start is a symbol."""
    config = {"num_stages": 3, "depths": [2, 1, 3], "dims": [4, 8, 16]}
    result = _check(models, "Stages", config, tmp_path)
    assert result.inferred == {
        "config.num_stages": 3,
        "config.dims[0]": 4,
        "config.depths[0]": 2,
        "config.dims[1]": 8,
        "config.depths[1]": 1,
        "config.dims[2]": 16,
        "config.depths[2]": 3,
    }
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == 12

    def drop(state: dict[str, Any]) -> None:
        del state["stages.2.1.bias"]

    assert _mismatches(_check(models, "Stages", config, tmp_path, drop)) == [("missing-key", ("stages.2.1.bias",))]


@pytest.mark.parametrize("big", [False, True])
def test_a_value_one_branch_of_an_unknown_if_sets_is_unknown_after_it(
    models: Any, tmp_path: Path, big: bool
) -> None:
    """`if big: config.hidden = 8` with `big` unknown, on a config nobody gave: after the `if`
    `config.hidden` is 8 or the config's own value, so the dims it sets are not checked (it
    used to be 8 on both sides: a false shape-mismatch on a model saved with `big=False`)."""
    path, namespace = models
    state = namespace["SetInBranch"](types.SimpleNamespace(hidden=16, n_out=3), big).state_dict()
    torch.save(dict(state), tmp_path / "ckpt.pt")
    result = check(path, "SetInBranch", tmp_path / "ckpt.pt")
    assert _mismatches(result) == []
    assert result.inferred == {"config.n_out": 3}
    assert (result.coverage.tensors, result.coverage.checked, result.coverage.keys_only) == (4, 3, 1)

    def drop(state: dict[str, Any]) -> None:
        del state["out.bias"]

    state = dict(state)
    drop(state)
    torch.save(state, tmp_path / "ckpt.pt")
    assert _mismatches(check(path, "SetInBranch", tmp_path / "ckpt.pt")) == [("missing-key", ("out.bias",))]


# -- a nested config nobody gave, built by AutoModel.from_config -------------------------------

COMPOSITE = '''
from torch import nn
from transformers import AutoModel, LlavaConfig, PreTrainedModel


class Composite(PreTrainedModel):
    config_class = LlavaConfig

    def __init__(self, config):
        super().__init__(config)
        self.language_model = AutoModel.from_config(config.text_config)
        self.head = nn.Linear(config.text_config.hidden_size, 10)
'''
TEXT = {"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 100}


def _composite(tmp_path: Path, model_type: str) -> tuple[Path, dict[str, Any], Any]:
    from transformers import LlavaConfig

    path = tmp_path / "composite.py"
    path.write_text(COMPOSITE)
    namespace: dict[str, Any] = {}
    exec(compile(COMPOSITE, str(path), "exec"), namespace)  # noqa: S102 - the test's own model
    config = LlavaConfig(text_config={"model_type": model_type, **TEXT})
    with torch.device("meta"):
        model = namespace["Composite"](config)
    return path, {k: tuple(v.shape) for k, v in model.state_dict().items()}, model


def _write(tmp_path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from sweep.checkpoints import write_sparse_safetensors

    out = tmp_path / "composite.safetensors"
    write_sparse_safetensors(out, [(k, s, "float32") for k, s in shapes.items()])
    return out


def test_a_nested_config_takes_its_default_model_type_where_the_keys_fit(tmp_path: Path) -> None:
    """`AutoModel.from_config(config.text_config)` with no config: the text config's default
    model type (llama) builds the tower; the checkpoint's keys fit it, so it is checked."""
    path, shapes, _ = _composite(tmp_path, "llama")
    result = check(path, "Composite", _write(tmp_path, shapes))
    assert _mismatches(result) == []
    assert result.inference.assumed["config.text_config.model_type"] == "llama"
    assert result.inferred["config.text_config.hidden_size"] == 32
    assert result.inferred["config.text_config.num_hidden_layers"] == 2
    assert result.coverage.checked + result.coverage.keys_only == result.coverage.tensors == len(shapes)
    dropped = dict(shapes)
    del dropped["language_model.layers.1.mlp.up_proj.weight"]
    assert _mismatches(check(path, "Composite", _write(tmp_path, dropped))) == [
        ("missing-key", ("language_model.layers.1.mlp.up_proj.weight",))
    ]


def test_a_nested_config_whose_keys_do_not_fit_the_default_stays_unknown(tmp_path: Path) -> None:
    """Saved with a qwen2 text tower (q/k/v biases llama has not): the default's model is not
    the checkpoint's, so the tower is left unknown, as without inference: no false alarm."""
    path, shapes, _ = _composite(tmp_path, "qwen2")
    result = check(path, "Composite", _write(tmp_path, shapes))
    assert _mismatches(result) == []
    assert not isinstance(result.inference.assumed["config.text_config.model_type"], str)
    assert not any(name.startswith("config.text_config.num_hidden") for name in result.inferred)
    (unverified,) = [f for f in result.findings if f.code == "unverified"]
    assert unverified.model_prefix == "language_model"


def test_a_list_of_unknown_length_is_counted_then_read_item_by_item(models: Any, tmp_path: Path) -> None:
    """`enumerate(config.block_sizes)`, `len(config.block_sizes)`: the length is a symbol the
    checkpoint's indices fix; given, the list's items are symbols the next round fixes."""
    config = {"d": 6, "block_sizes": [2, 1, 3]}
    result = _check(models, "Blocks", config, tmp_path)
    assert result.inferred == {
        "config.d": 6,
        "len(config.block_sizes)": 3,
        "config.block_sizes[0]": 2,
        "config.block_sizes[1]": 1,
        "config.block_sizes[2]": 3,
    }
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == 18

    def drop(state: dict[str, Any]) -> None:
        del state["blocks.2.0.weight"]

    assert _mismatches(_check(models, "Blocks", config, tmp_path, drop)) == [("missing-key", ("blocks.2.0.weight",))]


def test_infer_python_writes_a_solved_list_as_a_list(models: Any, tmp_path: Path) -> None:
    from ckptlens.render.infer import infer_to_python

    result = _check(models, "Blocks", {"d": 6, "block_sizes": [2, 1, 3]}, tmp_path)
    assert infer_to_python("Blocks", result) == (
        "from types import SimpleNamespace\n\nmodel = Blocks(\n    config=SimpleNamespace(\n"
        "        d=6,\n        block_sizes=[2, 1, 3],\n    ),\n)\n"
    )


def test_a_value_asked_among_many_is_found_none_where_the_keys_say_so(models: Any, tmp_path: Path) -> None:
    """Seven values asked whether they are None, the last one deciding a layer the checkpoint
    has not: found None by halving the group, so the layer is not a missing key."""
    config = dict.fromkeys(("pad_token_id", "dropout", "act", "eps", "scale", "window", "extra_dim"))
    result = _check(models, "ManyOptional", {**config, "hidden_size": 8}, tmp_path)
    assert _mismatches(result) == []
    assert result.inferred == {"config.hidden_size": 8, "config.extra_dim": None}
    assert result.coverage.checked == result.coverage.tensors == 2


def test_a_copy_of_the_config_keeps_its_own_values(models: Any, tmp_path: Path) -> None:
    """`shallow = copy.deepcopy(config); shallow.num_layers = 1`: the copy's layers are one,
    the config's are the checkpoint's (one symbol for both was a false alarm)."""
    result = _check(models, "Shallow", {"d": 4, "num_layers": 3}, tmp_path)
    assert result.inferred == {"config.d": 4, "config.num_layers": 3}
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == 10


def test_members_named_by_a_loop_of_unknown_length_leave_the_module_open(models: Any, tmp_path: Path) -> None:
    """`setattr(self, f"embedder_{i}", ...)` in a loop over `range(config.num_hashes)`: the
    first iteration's member does not say how many there are, so the others are no unexpected keys."""
    result = _check(models, "Named", {"num_hashes": 3, "buckets": 5, "d": 4}, tmp_path)
    assert _mismatches(result) == []
    assert result.inferred == {"config.d": 4}
    assert {f.model_prefix for f in result.findings if f.code == "unverified"} == {"embedder_0", None}
    assert result.coverage.unchecked == 3  # embedder_0 .. embedder_2


def test_values_set_to_none_one_at_a_time(models: Any, tmp_path: Path) -> None:
    """`v_channels` defaults to `qk_channels`, itself to each layer's own dim: once
    `qk_channels` is None the model built so decides `v_channels` (None too), not the model
    before it (where 8 of 11 sites said 12: the cross attention was a false alarm)."""
    config = {"kv_dim": 6, "q_dim": 12, "qk_channels": None, "v_channels": None}
    result = _check(models, "Channels", config, tmp_path)
    assert _mismatches(result) == []
    assert result.inferred["config.qk_channels"] is None and result.inferred["config.v_channels"] is None
    assert result.coverage.checked == result.coverage.tensors == 16
