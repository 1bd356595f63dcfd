"""The generated key mapping loads what the user loads (issue 12, item 2).

The shipped example keeps its weights under `model_state_dict`, next to `epoch` and
`best_acc`. The mapping ckptlens writes (`map --format python`, and "Generate key mapping" in
the language server, at a load call or as a pre-hook in the class) takes the object
`torch.load(path)` returns as well as the state_dict inside it; its docstring says where the
state_dict sits and ends with the code that loads the file, which is run here as written.
The language server's own analysis (a `Session`, as the server drives it) offers the fix,
and re-checks clean after it.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from ckptlens.checkpoint import read_checkpoint
from ckptlens.findings import SourceRange
from ckptlens.fixes.edits import apply_edits
from ckptlens.lsp.actions import GENERATE_MAPPING_TITLE
from ckptlens.lsp.analysis import Session, SessionOptions, checkpoint_stamp
from mapping_as_written import docstring_code, load_edited, run_as_written

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "examples"
SOURCE = EXAMPLES / "mlp.py"
CHECKPOINT = EXAMPLES / "mlp_module_prefix.pt"
# What the example's checkpoint holds, and where each tensor must land in MLP.
ENTRIES = ["epoch", "model_state_dict", "best_acc"]
EXPECTED = {
    "module.layer1.weight": "layer_1.weight",
    "module.layer1.bias": "layer_1.bias",
    "module.layer2.weight": "layer2.weight",
    "module.layer2.bias": "layer2.bias",
}


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _map(fmt: str) -> subprocess.CompletedProcess[str]:
    return _cli("map", SOURCE, "--class", "MLP", "--checkpoint", CHECKPOINT, "--format", fmt)


def _mlp(source: str | None = None) -> Any:
    module = load_edited(source if source is not None else SOURCE.read_text(), SOURCE)
    return module.MLP()


def _assert_holds_the_checkpoint(model: Any, path: Path = CHECKPOINT) -> None:
    saved = torch.load(path)["model_state_dict"]
    loaded = model.state_dict()
    assert set(loaded) == set(EXPECTED.values())
    for checkpoint_key, model_key in EXPECTED.items():
        assert torch.equal(loaded[model_key], saved[checkpoint_key]), checkpoint_key


def test_the_shipped_checkpoint_fails_as_the_issue_says() -> None:
    """Without a mapping, the user's own load fails on the wrapper entries: what the
    mapping must take care of."""
    assert list(torch.load(CHECKPOINT)) == ENTRIES
    with pytest.raises(RuntimeError) as failure:
        _mlp().load_state_dict(torch.load(CHECKPOINT), strict=True)
    for entry in ENTRIES:
        assert f'"{entry}"' in str(failure.value)


def test_map_python_loads_the_shipped_example_as_its_docstring_says() -> None:
    proc = _map("python")
    assert proc.returncode == 1, proc.stderr  # the checkpoint does not fit as it is
    source = proc.stdout
    assert '    STATE_DICT_PATH = ("model_state_dict",)\n' in source
    doc = " ".join(source.split('"""')[1].split())
    assert 'whose state_dict sits at ["model_state_dict"]' in doc
    assert "drops the file's other entries (epoch, best_acc)" in doc
    assert "Every model key is filled: strict loading works." in doc
    code = docstring_code(source)
    assert code == "model.load_state_dict(remap_state_dict(torch.load(path)))"

    model = _mlp()
    namespace: dict[str, Any] = {"torch": torch, "model": model, "path": str(CHECKPOINT)}
    exec(compile(source, "<map --format python>", "exec"), namespace)
    outcome = run_as_written(code, namespace)
    assert outcome.missing_keys == [] and outcome.unexpected_keys == []
    _assert_holds_the_checkpoint(model)
    # and the inner state_dict, as before
    again = _mlp()
    inner = torch.load(CHECKPOINT)["model_state_dict"]
    again.load_state_dict(namespace["remap_state_dict"](inner), strict=True)
    _assert_holds_the_checkpoint(again)


def test_map_json_and_text_say_where_the_state_dict_sits() -> None:
    proc = _map("json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data == {
        "mapping": EXPECTED,
        "dropped": [],
        "missing": [],
        "state_dict_path": ["model_state_dict"],
    }
    assert list(data) == ["mapping", "dropped", "missing", "state_dict_path"]
    inspected = json.loads(_cli("inspect", CHECKPOINT, "--format", "json").stdout)
    assert data["state_dict_path"] == inspected["state_dict_path"]

    text = _map("text").stdout
    assert (
        "\n\nstate_dict\n"
        '  torch.load(path)["model_state_dict"]; the file\'s other entries are dropped: '
        "epoch, best_acc\n\n"
    ) in text
    plain = _cli(
        "map", SOURCE, "--class", "MLP", "--checkpoint", EXAMPLES / "mlp.pt", "--format", "text"
    )
    assert "\n\nstate_dict\n  the file itself\n\n" in plain.stdout
    plain_json = _cli(
        "map", SOURCE, "--class", "MLP", "--checkpoint", EXAMPLES / "mlp.pt", "--format", "json"
    )
    assert json.loads(plain_json.stdout)["state_dict_path"] == []


# -- the language server's analysis ----------------------------------------------------------------


class Workspace:
    """A copy of the example with a script, analysed as the language server does it."""

    def __init__(self, root: Path, links: list[dict[str, str]] | None = None) -> None:
        self.root = root
        self.session = Session([str(root)], SessionOptions(links=links or []))
        self.generation = 0

    def analyse(self, path: Path) -> Any:
        self.generation += 1
        self.session.forget()
        planned, _ = self.session.plan(str(path), {})
        files = {r.path for _, r in planned if r.path}
        indexes = {f: read_checkpoint(f) for f in files}
        stamps = {f: checkpoint_stamp(f) for f in files}
        return self.session.analyse(
            str(path), 1, {}, planned, indexes, None, stamps, self.generation
        )

    def generate_mapping(self, path: Path, line: int) -> str:
        """Applies the one "Generate key mapping" action offered on `line` (1-based) of `path`;
        the file's new text."""
        analysis = self.analyse(path)
        request = SourceRange(
            str(path), line, 0, line, len(path.read_text().splitlines()[line - 1])
        )
        actions = [
            a
            for a in self.session.code_actions(analysis, request, _read)
            if a.fix.title.startswith(GENERATE_MAPPING_TITLE)
        ]
        assert len(actions) == 1, [a.fix.title for a in actions]
        edits = actions[0].fix.edits
        assert {where.file for where, _ in edits} == {str(path)}
        text = apply_edits(path.read_text(), edits)
        path.write_text(text)
        return text

    def mismatches(self, path: Path) -> list[Any]:
        analysis = self.analyse(path)
        assert analysis.results, "the link was lost"
        assert all(r.result is not None for r in analysis.results), analysis.results
        return [f for r in analysis.results for f in r.mismatches]


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(SOURCE, root / "mlp.py")
    shutil.copy(CHECKPOINT, root / "mlp_module_prefix.pt")
    return root


def test_pre_hook_in_the_class_loads_the_shipped_example_as_the_user_loads_it(
    example: Path,
) -> None:
    """*Generate key mapping* on the class (linked in the settings): the inserted pre-hook makes
    the issue's own line, `model.load_state_dict(torch.load(path), strict=True)`, load the file."""
    workspace = Workspace(
        example, links=[{"class": "mlp.py:MLP", "checkpoint": "mlp_module_prefix.pt"}]
    )
    source = example / "mlp.py"
    assert workspace.mismatches(source)
    edited = workspace.generate_mapping(source, 6)  # `class MLP(nn.Module):`
    assert workspace.mismatches(source) == []  # re-checking after the fix is clean
    assert '        STATE_DICT_PATH = ("model_state_dict",)\n' in edited
    code = docstring_code(edited)
    assert code == "model.load_state_dict(torch.load(path))"
    assert "A load_state_dict pre-hook of the class applies it" in edited

    model = _mlp(edited)
    model.load_state_dict(torch.load(example / "mlp_module_prefix.pt"), strict=True)
    _assert_holds_the_checkpoint(model)
    again = _mlp(edited)
    outcome = run_as_written(
        code, {"torch": torch, "model": again, "path": str(example / "mlp_module_prefix.pt")}
    )
    assert outcome.missing_keys == [] and outcome.unexpected_keys == []
    _assert_holds_the_checkpoint(again)


LOAD_SITES = {
    # the user's script: how the state_dict is taken out of the file -> the call after the fix
    "whole-file": (
        "net.load_state_dict(torch.load(CHECKPOINT))",
        "net.load_state_dict(remap_state_dict(torch.load(CHECKPOINT)))",
    ),
    "subscript": (
        'net.load_state_dict(torch.load(CHECKPOINT)["model_state_dict"])',
        'net.load_state_dict(remap_state_dict(torch.load(CHECKPOINT)["model_state_dict"]))',
    ),
    "name-then-subscript": (
        'checkpoint = torch.load(CHECKPOINT)\nnet.load_state_dict(checkpoint["model_state_dict"])',
        'net.load_state_dict(remap_state_dict(checkpoint["model_state_dict"]))',
    ),
    "state-dict-name": (
        'state = torch.load(CHECKPOINT)["model_state_dict"]\nnet.load_state_dict(state)',
        "net.load_state_dict(remap_state_dict(state))",
    ),
}


@pytest.mark.parametrize("form", list(LOAD_SITES))
def test_mapping_at_the_load_site_wraps_where_the_state_dict_is_taken_out(
    form: str, example: Path
) -> None:
    """At a `load_state_dict` call, the mapping wraps the argument that hands the state_dict
    over, however the script takes it out of the file (the whole `torch.load` result or its
    entry). The analysis re-checks clean, and the script, run with torch, loads strictly."""
    body, wrapped = LOAD_SITES[form]
    script = example / "train.py"
    script.write_text(
        "import torch\n\nfrom mlp import MLP\n\n"
        f'CHECKPOINT = "{example / "mlp_module_prefix.pt"}"\n\n'
        "net = MLP()\n" + body + "\n"
    )
    workspace = Workspace(example)
    assert workspace.mismatches(script)
    call_line = len(script.read_text().splitlines())
    edited = workspace.generate_mapping(script, call_line)
    assert wrapped in edited.splitlines()
    # at the top level: the definition, then the one call (the docstring's use is indented)
    uses = [ln for ln in edited.splitlines() if "remap_state_dict(" in ln and ln[:1] != " "]
    assert uses == ["def remap_state_dict(state_dict):", wrapped]
    assert workspace.mismatches(script) == []

    namespace: dict[str, Any] = {"__name__": "train"}
    sys.path.insert(0, str(example))
    try:
        sys.modules.pop("mlp", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(edited, str(script), "exec"), namespace)
    finally:
        sys.path.remove(str(example))
        sys.modules.pop("mlp", None)
    _assert_holds_the_checkpoint(namespace["net"])


def test_an_older_mapping_without_state_dict_path_still_reads_back() -> None:
    """Code generated before STATE_DICT_PATH existed (no constant, no unwrapping loop) is still
    the generated form: it reads back with the file itself as its state_dict."""
    from ckptlens.engine.mapping_code import ParsedMapping, parse_mapping_code

    older = textwrap.dedent(
        '''\
        def remap_state_dict(state_dict):
            """Generated by ckptlens."""
            STRIP_PREFIX = "module."
            ADD_PREFIX = ""
            RENAMES = {}
            DROP = set()
            DROP_PREFIXES = ()
            out = {}
            for key, value in state_dict.items():
                if key in DROP or key.startswith(DROP_PREFIXES):
                    continue
                if STRIP_PREFIX and key.startswith(STRIP_PREFIX):
                    key = key[len(STRIP_PREFIX):]
                key = ADD_PREFIX + key
                for old, new in RENAMES.items():
                    if key == old or (old.endswith(".") and key.startswith(old)):
                        key = new + key[len(old):]
                        break
                out[key] = value
            return out
        '''
    )
    assert parse_mapping_code(older) == ParsedMapping(strip_prefix="module.", line=1)
    # with the constant but without the loop that uses it, it is not the generated form
    half = older.replace(
        '    STRIP_PREFIX = "module."\n',
        '    STATE_DICT_PATH = ("state_dict",)\n    STRIP_PREFIX = "module."\n',
    )
    assert parse_mapping_code(half) is None


# -- the checkpoint reader's corpus: ckpt_factory.Net in every container ---------------------------

FACTORY = Path(__file__).resolve().parent / "ckpt_factory.py"
# Files whose state_dict is ckpt_factory.Net's, as torch.load(path) reads them.
NET_FILES = [
    "net.pt",
    "net_legacy.pt",
    "wrapped_model.bin",
    "wrapped_model_state_dict.ckpt",
    "ema_first.pt",
    "nested.pt",
    "cuda.pt",  # tagged cuda:0: the docstring's torch.load maps it to the CPU
    "cuda_legacy.pt",
    "net.safetensors",  # the tied head.weight is not stored: strict=False, missing exactly it
]
# ... and those torch.load refuses to read with its default weights_only=True (a pickle
# protocol it cannot read, an argparse.Namespace, objects of the user's classes): torch's own
# safety check, which the user answers with weights_only=False. The rest of the docstring's
# code is run as written.
WEIGHTS_ONLY_REFUSED = [
    "net_proto4.pth",
    "net_legacy_proto4.pth",
    "wrapped_state_dict.pth",
    "opaque_hparams.ckpt",
]


@pytest.fixture(scope="module")
def factory_corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import ckpt_factory

    return ckpt_factory.build(tmp_path_factory.mktemp("factory-corpus"))


def _stored(corpus: Any, name: str) -> dict[str, Any]:
    """The state_dict in the file, read with torch."""
    path = corpus.files[name]
    if name.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(path, map_location="cpu", weights_only=False)
    for entry in corpus.state_dict_paths[name]:
        obj = obj[entry]
    return dict(obj)


@pytest.mark.parametrize("name", NET_FILES + WEIGHTS_ONLY_REFUSED)
def test_reader_corpus_loads_through_the_mapping_as_written(name: str, factory_corpus: Any) -> None:
    from ckptlens import api
    from ckptlens.engine.mapping_code import render_python

    path = factory_corpus.files[name]
    result = api.check(FACTORY, "Net", path)
    assert result.index.state_dict_path == factory_corpus.state_dict_paths.get(name, ())
    source = render_python(result.comparison, class_name="Net", checkpoint=result.index)
    code = docstring_code(source)
    if name in WEIGHTS_ONLY_REFUSED:
        with pytest.raises(pickle.UnpicklingError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path)
        code = code.replace("torch.load(path", "torch.load(path, weights_only=False")
    module = load_edited(FACTORY.read_text(), FACTORY)
    model = module.Net()
    namespace: dict[str, Any] = {"torch": torch, "model": model, "path": str(path)}
    exec(compile(source, "<generated>", "exec"), namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = run_as_written(code, namespace)
    assert sorted(outcome.missing_keys) == sorted(result.mapping.missing)
    assert outcome.unexpected_keys == []
    loaded = model.state_dict()
    for key, tensor in _stored(factory_corpus, name).items():
        assert torch.equal(loaded[result.mapping.mapping.get(key, key)], tensor), key


@pytest.mark.parametrize(
    ("path", "entries", "place", "identity"),
    [
        ((), (), "the file itself", "the checkpoint loads as it is"),
        (
            ("state_dict",),
            ("epoch", "state_dict", "optimizer_states"),
            'torch.load(path)["state_dict"]; the file\'s other entries are dropped: '
            "epoch, optimizer_states",
            "its state_dict loads as it is",
        ),
        (
            ("model", "state_dict"),
            ("model",),
            'torch.load(path)["model"]["state_dict"]',
            "its state_dict loads as it is",
        ),
    ],
)
def test_map_text_says_where_the_state_dict_sits(
    path: tuple[str, ...], entries: tuple[str, ...], place: str, identity: str
) -> None:
    from ckptlens.checkpoint.index import CheckpointIndex, TensorInfo
    from ckptlens.engine.compare import compare
    from ckptlens.render.map import render_map_text
    from compare_helpers import build, same

    spec = [("fc.weight", (2, 2))]
    index = CheckpointIndex(
        "/x.pt", "torch-zip", path, {"fc.weight": TensorInfo((2, 2), "float32")}, entries=entries
    )
    text = render_map_text(compare(build(spec), same(spec)), checkpoint=index)
    sections = text.rstrip("\n").split("\n\n")
    assert sections[1] == f"state_dict\n  {place}"
    assert sections[-1] == f"✓ identity: {identity}"
