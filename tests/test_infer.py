"""Issue 15: the constructor values a checkpoint was saved with, inferred from its shapes and
indices, so that a model whose config nobody passed is still checked. Ground truth is torch:
the checkpoints are the real models' `state_dict()`s, and `infer --format python` rebuilds a
model that loads them strictly."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ckptlens.api import check
from ckptlens.engine.symbolic import Expr, solve

ROOT = Path(__file__).resolve().parents[1]
GPT_SOURCE = ROOT / "fixtures" / "models" / "gpt_infer.py"
MISMATCH = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}
GPT_VALUES = {"vocab_size": 300, "n_embd": 32, "n_head": 4, "n_layer": 6, "block_size": 64}


def _fixture_module() -> Any:
    spec = importlib.util.spec_from_file_location("gpt_infer_fixture", GPT_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpt_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = _fixture_module().GPT(types.SimpleNamespace(**GPT_VALUES))
    return dict(model.state_dict())


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)
    return path


def _mismatches(result: Any) -> list[tuple[str, tuple[str, ...]]]:
    """(code, model keys) per mismatch finding; a key-prefix as (code, (its prefix,))."""
    return [
        (f.code, (f.checkpoint_prefix,) if f.code == "key-prefix" else f.model_keys)
        for f in result.findings
        if f.code in MISMATCH
    ]


# -- the symbolic integers ---------------------------------------------------------------------


def test_arithmetic_keeps_symbols_and_solves_one_unknown_when_determined() -> None:
    n, h = Expr.var("n_embd"), Expr.var("n_head")
    four_n_plus_one = Expr.const(4).mul(n).add(Expr.const(1))  # type: ignore[union-attr]
    assert str(four_n_plus_one) == "4 * n_embd + 1"
    assert solve(four_n_plus_one, 129, {}) == ("n_embd", 32)
    assert solve(four_n_plus_one, 130, {}) is None  # no integer solution
    product = h.mul(Expr.var("dim_head"))
    assert product is not None
    assert solve(product, 64, {}) is None  # heads * dim_head: underdetermined, never guessed
    assert solve(product, 64, {"n_head": 4}) == ("dim_head", 16)  # known other factor
    head_dim = n.floordiv(h)
    assert head_dim is not None and str(head_dim) == "n_embd // n_head"
    assert solve(head_dim, 8, {"n_embd": 32}) == ("n_head", 4)  # the only divisor giving 8
    assert solve(head_dim, 1, {"n_embd": 32}) is None  # 17 .. 32 all give 1
    doubled = Expr.const(2).mul(n).floordiv(Expr.const(2))  # type: ignore[union-attr]
    assert doubled == n  # exact division stays a polynomial


# -- the GPT whose config nobody passes ----------------------------------------------------------


def test_gpt_without_config_is_checked_in_full_and_its_values_are_the_real_ones(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    result = check(GPT_SOURCE, "GPT", _save(gpt_state, tmp_path / "gpt.pt"))
    assert _mismatches(result) == []
    assert result.inferred == {f"config.{k}": v for k, v in GPT_VALUES.items() if k != "n_head"}
    assert result.inference.undetermined == ["config.n_head"]  # read, but in no shape
    assert result.coverage.checked == result.coverage.tensors == len(gpt_state)
    (note,) = [f for f in result.findings if f.code == "inferred"]
    assert note.severity.value == "information"
    assert "`config.n_layer=6` from transformer.h.0 … transformer.h.5" in note.message
    assert "`config.n_embd=32` from transformer.wte.weight [300, 32]" in note.message
    from ckptlens.engine.messages import Inferred

    assert isinstance(note.details, Inferred) and note.details.plain == result.inferred  # typed details
    assert note.details.undetermined == ("config.n_head",)


def test_without_inference_the_same_check_leaves_the_model_unknown(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    result = check(GPT_SOURCE, "GPT", _save(gpt_state, tmp_path / "gpt.pt"), infer_values=False)
    assert result.inferred == {}
    assert result.coverage.checked < len(gpt_state) // 2


@pytest.mark.parametrize("variant", ["module-prefix", "dropped", "added", "changed-dim"])
def test_gpt_variants_are_found_exactly_without_config(gpt_state: dict[str, Any], tmp_path: Path, variant: str) -> None:
    state = dict(gpt_state)
    expected: list[tuple[str, tuple[str, ...]]]
    if variant == "module-prefix":
        state = {f"module.{k}": v for k, v in state.items()}
        expected = [("key-prefix", ("module",))]
    elif variant == "dropped":
        del state["transformer.h.3.attn.qkv.bias"]
        expected = [("missing-key", ("transformer.h.3.attn.qkv.bias",))]
    elif variant == "added":
        state["transformer.h.2.extra.weight"] = torch.zeros(3)
        expected = [("unexpected-key", ())]
    else:
        state["transformer.h.2.mlp.0.weight"] = torch.zeros(129, 32)
        expected = [("shape-mismatch", ("transformer.h.2.mlp.0.weight",))]
    result = check(GPT_SOURCE, "GPT", _save(state, tmp_path / "gpt.pt"))
    found = _mismatches(result)
    if variant == "added":
        assert [(f.code, f.checkpoint_keys) for f in result.findings if f.code in MISMATCH] == [
            ("unexpected-key", ("transformer.h.2.extra.weight",))
        ]
    else:
        assert found == expected
    # the one disagreeing site does not move the value the other sites agree on
    assert result.inferred["config.n_embd"] == 32
    assert result.inferred["config.n_layer"] == 6


def test_a_changed_dim_is_reported_at_the_site_that_disagrees(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    state = dict(gpt_state)
    state["transformer.h.2.mlp.0.weight"] = torch.zeros(129, 32)
    result = check(GPT_SOURCE, "GPT", _save(state, tmp_path / "gpt.pt"))
    (mismatch,) = [f for f in result.findings if f.code == "shape-mismatch"]
    assert "[129, 32]" in mismatch.message and "[128, 32]" in mismatch.message


def test_infer_python_rebuilds_a_model_that_loads_the_checkpoint_strictly(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    ckpt = _save(gpt_state, tmp_path / "gpt.pt")
    out = subprocess.run(
        [sys.executable, "-m", "ckptlens", "infer", str(GPT_SOURCE), "--class", "GPT", "--checkpoint", str(ckpt), "--format", "python"],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "        n_head=None,  # not determined by the checkpoint\n" in out.stdout
    code = out.stdout.replace("n_head=None", "n_head=4")  # what the user fills in
    namespace: dict[str, Any] = {"GPT": _fixture_module().GPT}
    exec(code, namespace)  # noqa: S102 - the generated constructor call, on the test's own model
    model = namespace["model"]
    model.load_state_dict(torch.load(ckpt), strict=True)


def test_infer_json_and_text(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    ckpt = _save(gpt_state, tmp_path / "gpt.pt")
    base = [sys.executable, "-m", "ckptlens", "infer", str(GPT_SOURCE), "--class", "GPT", "--checkpoint", str(ckpt)]
    out = subprocess.run([*base, "--format", "json"], capture_output=True, text=True, check=False)
    data = json.loads(out.stdout)
    assert set(data) == {"inferred", "undetermined", "findings"}
    assert data["inferred"]["config.n_layer"] == 6 and data["undetermined"] == ["config.n_head"]
    assert [f["code"] for f in data["findings"]] == ["inferred"]
    text = subprocess.run(base, capture_output=True, text=True, check=False).stdout
    assert "config.n_layer=6" in text and "from transformer.h.0 … transformer.h.5" in text


def test_check_json_always_carries_inferred(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    ckpt = _save(gpt_state, tmp_path / "gpt.pt")
    base = [sys.executable, "-m", "ckptlens", "check", str(GPT_SOURCE), "--class", "GPT", "--checkpoint", str(ckpt), "--format", "json"]
    data = json.loads(subprocess.run(base, capture_output=True, text=True, check=False).stdout)
    assert data["inferred"]["config.vocab_size"] == 300
    assert list(data)[:3] == ["findings", "coverage", "inferred"]
    init = [f"--init=config={json.dumps(GPT_VALUES)}"]
    data = json.loads(subprocess.run([*base, *init], capture_output=True, text=True, check=False).stdout)
    assert data["inferred"] == {}  # everything given: nothing to infer


# -- plain constructor arguments -----------------------------------------------------------------


class _Classifier(nn.Module):
    def __init__(self, in_features: int, hidden: int, num_classes: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers.append(nn.Linear(width, hidden))
            layers.append(nn.ReLU())
            width = hidden
        self.body = nn.Sequential(*layers)
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.Linear(hidden, hidden))
        self.head = nn.Linear(hidden, num_classes)


def test_required_arguments_are_inferred_and_the_loops_counted(tmp_path: Path) -> None:
    ckpt = _save(dict(_Classifier(12, 20, 10, 3).state_dict()), tmp_path / "cls.pt")
    result = check(GPT_SOURCE, "Classifier", ckpt)
    assert result.inferred == {"in_features": 12, "hidden": 20, "num_classes": 10, "depth": 3}
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors
    assert result.predicted.constructor["depth"].source == "inferred from the checkpoint"


ATTENTION = '''
import torch.nn as nn

class Attention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Linear(inner, dim)
'''


def test_a_product_of_two_unknowns_stays_unknown(tmp_path: Path) -> None:
    source = tmp_path / "attn.py"
    source.write_text(ATTENTION)
    state = {"to_qkv.weight": torch.zeros(192, 32), "to_out.weight": torch.zeros(32, 64), "to_out.bias": torch.zeros(32)}
    result = check(source, "Attention", _save(state, tmp_path / "a.pt"))
    assert result.inferred == {"dim": 32}
    assert result.inference.undetermined == ["heads", "dim_head"]
    assert _mismatches(result) == []


def test_as_many_sites_for_one_value_as_for_another_is_never_guessed(tmp_path: Path) -> None:
    state = dict(_Classifier(12, 20, 10, 1).state_dict())
    state["head.bias"] = torch.zeros(11)  # head.weight says 10, head.bias says 11
    result = check(GPT_SOURCE, "Classifier", _save(state, tmp_path / "cls.pt"))
    assert "num_classes" not in result.inferred
    assert "num_classes" in result.inference.undetermined
    assert _mismatches(result) == []  # unknown: silent, never a false alarm


# -- the fixture corpus, with no --init at all ---------------------------------------------------


def _corpus() -> list[Any]:
    from fixture_cases import CASES

    return [pytest.param(case, id=case.id) for case in CASES if case.init]


@pytest.mark.parametrize("case", _corpus())
def test_fixture_checkpoints_check_without_their_arguments(case: Any, tmp_path: Path) -> None:
    """Each fixture built with its arguments by torch, checked with none of them: where the
    arguments have no default, no mismatch finding, and every inferred value is the real one;
    where a default differs from the saved value, the mismatch is real (and says so)."""
    from fixture_truth import build, fixture_path
    from sweep.checkpoints import write_sparse_safetensors

    truth = build(case.file, case.class_name, case.init)
    ckpt = tmp_path / "model.safetensors"
    write_sparse_safetensors(ckpt, [(t.key, t.shape, t.dtype) for t in truth.tensors.values()])
    source = fixture_path(case.file)
    result = check(source, case.class_name, ckpt)
    for name, value in result.inferred.items():
        head, _, attr = name.partition(".")
        given = case.init.get(head)
        expected = given.get(attr) if attr and isinstance(given, dict) else None if attr else given
        if expected is not None or not attr:
            assert value == expected, (name, value, case.init)
    # torch decides whether the class built without the arguments holds the same tensors:
    # if it cannot be built without them, or builds the same, the check must be clean
    from fixture_truth import make

    try:
        bare = {k: tuple(v.shape) for k, v in make(case.file, case.class_name, {}).state_dict().items()}
    except Exception:  # noqa: BLE001 - a required argument missing: nothing but the checkpoint says it
        bare = None
    if bare is None or bare == {t.key: t.shape for t in truth.tensors.values()}:
        assert _mismatches(result) == [], [f.message for f in result.findings if f.code in MISMATCH]
    else:
        assert _mismatches(result), "the defaults build another model: the check must say so"


# -- the editor: the code action and the hover ---------------------------------------------------


def test_the_editor_offers_the_checkpoints_values_for_the_directive(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    """As the language server analyses it: the `inferred` note on the class, the hover listing
    the values, and "Use the checkpoint's values" writing them into the directive, after which
    the values are given (pinned), not inferred, and the check stays clean."""
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.findings import SourceRange
    from ckptlens.fixes.edits import apply_edits
    from ckptlens.lsp.analysis import Session, SessionOptions, checkpoint_stamp
    from ckptlens.render.hover import hover_markdown

    _save(gpt_state, tmp_path / "gpt.pt")
    text = GPT_SOURCE.read_text().replace("class GPT(nn.Module):", "# ckptlens: checkpoint=gpt.pt\nclass GPT(nn.Module):")
    path = tmp_path / "model.py"
    path.write_text(text)

    def analyse() -> Any:
        session = Session([str(tmp_path)], SessionOptions())
        planned, _ = session.plan(str(path), {})
        files = {r.path for _, r in planned if r.path}
        indexes = {f: read_checkpoint(f) for f in files}
        stamps = {f: checkpoint_stamp(f) for f in files}
        return session, session.analyse(str(path), 1, {}, planned, indexes, None, stamps, 1)

    session, analysis = analyse()
    (outcome,) = analysis.results
    assert outcome.result is not None and outcome.result.inferred["config.n_layer"] == 6
    class_line = text.splitlines().index("class GPT(nn.Module):") + 1
    hover = hover_markdown(analysis, class_line) or ""
    assert "inferred from the checkpoint" in hover and "n_layer=6" in hover
    request = SourceRange(str(path), class_line, 0, class_line, 10)
    actions = [a for a in session.code_actions(analysis, request, lambda p: Path(p).read_text()) if a.fix.title == "Use the checkpoint's values"]
    assert len(actions) == 1
    path.write_text(apply_edits(text, actions[0].fix.edits))
    directive = path.read_text().splitlines()[class_line - 2]
    assert directive == (
        "# ckptlens: checkpoint=gpt.pt init:config.vocab_size=300 init:config.n_embd=32 "
        "init:config.block_size=64 init:config.n_layer=6"
    )
    session, analysis = analyse()
    (outcome,) = analysis.results
    assert outcome.result is not None
    assert outcome.result.inferred == {} and outcome.result.inference.pinned["config.n_layer"] == 6
    assert not [f for f in outcome.result.findings if f.code in MISMATCH]
    assert outcome.result.coverage.checked == len(gpt_state)


def test_a_default_the_checkpoint_contradicts_says_so(tmp_path: Path) -> None:
    source = tmp_path / "net.py"
    source.write_text(
        "import torch.nn as nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, num_classes=1000, width=32):\n"
        "        super().__init__()\n"
        "        self.body = nn.Linear(16, width)\n"
        "        self.fc = nn.Linear(width, num_classes)\n"
    )
    state = {"body.weight": torch.zeros(33, 16), "body.bias": torch.zeros(33), "fc.weight": torch.zeros(10, 32), "fc.bias": torch.zeros(10)}
    result = check(source, "Net", _save(state, tmp_path / "net.pt"))
    messages = {f.model_keys: f.message for f in result.findings if f.code == "shape-mismatch"}
    assert messages[("fc.weight", "fc.bias")].startswith(
        "the checkpoint was saved with `num_classes=10`; this model is built with `num_classes=1000` (the default): "
    )
    # width=33 would fit body but break fc: not what the checkpoint was saved with
    assert messages[("body.weight", "body.bias")].startswith("size mismatch for body.weight")
    given = check(source, "Net", tmp_path / "net.pt", init={"num_classes": 7})
    messages = {f.model_keys: f.message for f in given.findings if f.code == "shape-mismatch"}
    assert "this model is built with `num_classes=7` (--init)" in messages[("fc.weight", "fc.bias")]
    # the findings registry: the saved value is a typed detail of the shape mismatch
    from ckptlens.engine.messages import SavedWith, ShapeMismatch

    details = {f.model_keys: f.details for f in result.findings if f.code == "shape-mismatch"}
    fc, body = details[("fc.weight", "fc.bias")], details[("body.weight", "body.bias")]
    assert isinstance(fc, ShapeMismatch) and fc.saved == SavedWith("num_classes", 10, 1000, "default")
    assert isinstance(body, ShapeMismatch) and body.saved is None


# -- the sweeps' sample, with no config and no --init ----------------------------------------------

SWEEP_SAMPLE = 4  # architectures per library: every k-th of tests/test_sweeps.py's sample
# with no config, the share of the variants found with the config, per library (measured on
# this sample; floors only go up)
FOUND_FLOOR = {"torchvision": 1.0, "timm": 1.0, "transformers": 1.0, "diffusers": 1.0}


def _sweep_sample(library: str) -> list[str]:
    from test_sweeps import SAMPLES

    names = SAMPLES.get(library)
    if not isinstance(names, list):
        pytest.skip(str(names))
    step = max(1, len(names) // SWEEP_SAMPLE)
    return names[::step][:SWEEP_SAMPLE]


@pytest.mark.slow
@pytest.mark.parametrize("library", ["torchvision", "timm", "transformers", "diffusers"])
def test_swept_architectures_without_any_config(library: str) -> None:
    """torch's state_dict of each sampled architecture, checked with no config and no --init:
    no mismatch the configured check does not also report (no false alarm), every inferred
    value the real one, and the variants found as with the config (at least the floor)."""
    from ckptlens.api import Analyzer
    from sweep.infer_variants import VARIANTS, evaluate

    analyzer = Analyzer()
    found = {"config": 0, "none": 0}
    for name in _sweep_sample(library):
        record = evaluate(library, name, analyzer)
        if "error" in record and record["error"].startswith("no ground truth"):
            continue
        assert "error" not in record, record["error"]
        modes = record["modes"]
        clean_config, clean_none = modes["config"]["variants"]["clean"], modes["none"]["variants"]["clean"]
        assert "error" not in clean_none, clean_none
        assert set(map(tuple, clean_none["false_alarms"])) <= set(map(tuple, clean_config["false_alarms"])), (name, clean_none)
        assert clean_none["inferred_wrong"] == {}, (name, clean_none["inferred_wrong"])
        for variant in VARIANTS[1:]:
            if variant in modes["config"]["variants"] and not clean_config["false_alarms"]:
                found["config"] += modes["config"]["variants"][variant]["found"]
                found["none"] += modes["none"]["variants"][variant]["found"]
    assert found["config"] > 0
    assert found["none"] / found["config"] >= FOUND_FLOOR[library], found


STAGED = {"num_stages": 3, "dims": [8, 16, 32], "depths": [1, 2, 1], "out": 5, "bias": False, "use_norm": True}


def test_list_items_and_flags_are_inferred_over_rounds(tmp_path: Path) -> None:
    """`config.num_stages` is solved first; given, it makes the loop concrete and reveals
    `config.dims[i]` and `config.depths[i]`; `bias` and `use_norm` decide which keys exist."""
    model = _fixture_module().Staged(types.SimpleNamespace(**STAGED))
    ckpt = _save(dict(model.state_dict()), tmp_path / "staged.pt")
    result = check(GPT_SOURCE, "Staged", ckpt)
    assert result.inferred == {
        "config.num_stages": 3,
        "config.dims[-1]": 32,
        "config.out": 5,
        "config.dims[0]": 8,
        "config.depths[0]": 1,
        "config.dims[1]": 16,
        "config.depths[1]": 2,
        "config.dims[2]": 32,
        "config.depths[2]": 1,
        "config.bias": False,
        "config.use_norm": True,
    }
    assert _mismatches(result) == []
    assert result.coverage.checked == result.coverage.tensors == len(model.state_dict())
    state = dict(model.state_dict())
    del state["stages.1.1.bias"]
    assert _mismatches(check(GPT_SOURCE, "Staged", _save(state, tmp_path / "dropped.pt"))) == [
        ("missing-key", ("stages.1.1.bias",))
    ]


def test_infer_bad_input_is_one_line_and_exit_2(gpt_state: dict[str, Any], tmp_path: Path) -> None:
    ckpt = _save(gpt_state, tmp_path / "gpt.pt")
    for args in (["--class", "Nope", "--checkpoint", str(ckpt)], ["--class", "GPT", "--checkpoint", str(tmp_path / "none.pt")]):
        out = subprocess.run([sys.executable, "-m", "ckptlens", "infer", str(GPT_SOURCE), *args], capture_output=True, text=True, check=False)
        assert out.returncode == 2 and out.stdout == ""
        assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("ckptlens: error: ")


UNEVEN = '''
import torch.nn as nn

class Uneven(nn.Module):
    def __init__(self, depth, dim):
        super().__init__()
        layers = []
        for i in range(depth):
            if i > 0:
                layers.append(nn.LayerNorm(dim))
            layers.append(nn.Linear(dim, dim))
        self.body = nn.Sequential(*layers)
'''


def test_a_loop_whose_first_iteration_does_not_tell_its_length_leaves_it_unknown(tmp_path: Path) -> None:
    """Iterations after the first add two items: counting the checkpoint's items as if each
    added one would be a guess; the model built with it does not reproduce them, so the
    length stays unknown and nothing is reported."""
    source = tmp_path / "uneven.py"
    source.write_text(UNEVEN)
    namespace: dict[str, Any] = {}
    exec(UNEVEN, namespace)  # noqa: S102 - the test's own model
    ckpt = _save(dict(namespace["Uneven"](3, 8).state_dict()), tmp_path / "u.pt")
    result = check(source, "Uneven", ckpt)
    assert result.inferred == {"dim": 8}
    assert "depth" in result.inference.undetermined
    assert _mismatches(result) == []
