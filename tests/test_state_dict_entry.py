"""The load-site rule `state-dict-entry`: `load_state_dict` given the wrong entry of the file it
loads — the whole Lightning-style checkpoint instead of its `["state_dict"]` (torch: every key
missing; with strict=False nothing loads and nothing is said), or an entry the file does not
have (KeyError). Ground truth is torch: each load site below is also run, and the rule fires
exactly on the ones torch fails on (or, with strict=False, loads nothing)."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ckptlens.cli import main  # noqa: E402

MODEL = """\
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 3)
"""

# One function per load site; the rule's verdict is in the name: `bad_*` fails under torch.
TRAIN = """\
import torch

from model import Net


def bad_whole_file():
    net = Net()
    net.load_state_dict(torch.load("ckpts/run.ckpt"))
    return net


def good_selected():
    net = Net()
    net.load_state_dict(torch.load("ckpts/run.ckpt")["state_dict"])
    return net


def bad_whole_file_not_strict():
    net = Net()
    ckpt = torch.load("ckpts/run.ckpt")
    net.load_state_dict(ckpt, strict=False)
    return net


def good_selected_through_a_name():
    checkpoint = torch.load("ckpts/run.ckpt", map_location="cpu")
    net = Net()
    net.load_state_dict(checkpoint["state_dict"])
    return net


def good_selected_in_a_branch():
    ckpt = torch.load("ckpts/run.ckpt")
    if "state_dict" in ckpt:
        state = ckpt["state_dict"]
    else:
        state = ckpt
    net = Net()
    net.load_state_dict(state)
    return net


def good_comprehension():
    net = Net()
    net.load_state_dict({k: v for k, v in torch.load("ckpts/run.ckpt")["state_dict"].items()})
    return net


def good_changed_in_place():
    ckpt = torch.load("ckpts/run.ckpt")
    ckpt.update(ckpt.pop("state_dict"))
    net = Net()
    net.load_state_dict(ckpt, strict=False)
    return net


def bad_no_such_entry():
    net = Net()
    net.load_state_dict(torch.load("ckpts/plain.pt")["state_dict"])
    return net


def good_plain():
    net = Net()
    net.load_state_dict(torch.load("ckpts/plain.pt"))
    return net
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "train.py").write_text(TRAIN)
    state = {
        "body.weight": torch.ones(8, 4),
        "body.bias": torch.ones(8),
        "head.weight": torch.ones(3, 8),
        "head.bias": torch.ones(3),
    }
    torch.save(
        {"epoch": 3, "global_step": 120, "state_dict": state, "optimizer_states": []},
        tmp_path / "ckpts" / "run.ckpt",
    )
    torch.save(state, tmp_path / "ckpts" / "plain.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def torch_verdicts(root: Path) -> dict[str, bool]:
    """Each load site run by torch: True when it loads every tensor of the file."""
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location("train_under_test", root / "train.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        verdicts = {}
        for name in [n for n in vars(module) if n.startswith(("good_", "bad_"))]:
            try:
                net = getattr(module, name)()
            except (RuntimeError, KeyError):
                verdicts[name] = False
                continue
            verdicts[name] = all(bool((p == 1).all()) for p in net.state_dict().values())
        return verdicts
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("model", None)


def test_the_rule_fires_exactly_where_torch_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = torch_verdicts(project)
    assert verdicts == {name: name.startswith("good_") for name in verdicts} and len(verdicts) == 9

    code, out, _ = main(["check", "--no-cache", "--format", "json"]), *capsys.readouterr()
    findings = json.loads(out)["findings"]
    flagged = [(f["line"], f["code"]) for f in findings if f["code"] == "state-dict-entry"]
    lines = TRAIN.splitlines()

    def line_of(function: str) -> int:
        start = lines.index(f"def {function}():")
        return next(i + 1 for i in range(start, len(lines)) if "load_state_dict" in lines[i])

    bad = sorted(name for name, ok in verdicts.items() if not ok)
    assert sorted(flagged) == sorted((line_of(name), "state-dict-entry") for name in bad)
    assert code == 1
    # Nothing else is reported: the checkpoints fit the class.
    assert {f["code"] for f in findings} == {"state-dict-entry"}


def test_messages_say_what_torch_does_and_what_to_pass(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["check", "--no-cache", "--format", "json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    by_line = {f["line"]: f for f in findings}
    lines = TRAIN.splitlines()
    whole = by_line[lines.index('    net.load_state_dict(torch.load("ckpts/run.ckpt"))') + 1]
    assert whole["severity"] == "error"
    assert whole["message"] == (
        'load_state_dict is given the whole of run.ckpt, but its weights sit under '
        '`["state_dict"]` (the file holds epoch, global_step, state_dict, optimizer_states): '
        'torch reports all 4 keys missing; pass `...["state_dict"]`'
    )
    # The finding sits on load_state_dict's argument.
    assert whole["column"] == len('    net.load_state_dict(') + 1
    quiet = by_line[lines.index("    net.load_state_dict(ckpt, strict=False)") + 1]
    assert "with strict=False nothing is loaded and no error is raised" in quiet["message"]
    missing = by_line[
        lines.index('    net.load_state_dict(torch.load("ckpts/plain.pt")["state_dict"])') + 1
    ]
    assert missing["message"] == (
        'plain.pt has no entry `["state_dict"]`: this raises KeyError; the file is the '
        "state_dict itself (body.weight, body.bias, head.weight, head.bias): pass it whole"
    )


def test_text_output_names_the_rule(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--no-cache"])
    out = capsys.readouterr().out
    assert code == 1 and out.count("state-dict-entry") == 3


def test_a_safetensors_load_is_never_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import save_file

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "train.py").write_text(
        textwrap.dedent(
            """\
            from safetensors.torch import load_file

            from model import Net

            net = Net()
            net.load_state_dict(load_file("w.safetensors"))
            """
        )
    )
    save_file(
        {
            "body.weight": torch.ones(8, 4),
            "body.bias": torch.ones(8),
            "head.weight": torch.ones(3, 8),
            "head.bias": torch.ones(3),
        },
        str(tmp_path / "w.safetensors"),
    )
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--no-cache"]) == 0
    assert capsys.readouterr().out == "✓ 1 linked class checked\n"


def test_the_editor_shows_the_same_findings(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_workspace_check import editor_diagnostics

    main(["check", "--no-cache", "--format", "json", "--jobs", "1"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    reported = {
        (f["file"], f["line"], f["column"], f["code"], f["severity"], f["message"]) for f in findings
    }
    assert len(reported) == 3 and reported == editor_diagnostics(project)


def test_fix_makes_every_load_site_load_under_torch(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --fix` applies the edit; afterwards torch loads every tensor at every site and
    the check is clean."""
    assert main(["check", "--no-cache", "--diff"]) == 1
    diff = capsys.readouterr().out
    assert '-    net.load_state_dict(torch.load("ckpts/run.ckpt"))' in diff
    assert '+    net.load_state_dict(torch.load("ckpts/run.ckpt")["state_dict"])' in diff
    assert '+    net.load_state_dict(ckpt["state_dict"], strict=False)' in diff
    assert '+    net.load_state_dict(torch.load("ckpts/plain.pt"))' in diff
    main(["check", "--no-cache", "--fix"])
    capsys.readouterr()
    verdicts = torch_verdicts(project)
    assert len(verdicts) == 9 and all(verdicts.values())
    assert main(["check", "--no-cache"]) == 0


def test_the_editor_offers_the_fix(project: Path) -> None:
    import os

    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.findings import SourceRange
    from ckptlens.fixes.edits import apply_edits
    from ckptlens.lsp.analysis import Session, SessionOptions
    from ckptlens.lsp.checkpoints import checkpoint_stamp

    session = Session([str(project)], SessionOptions())
    path = os.path.realpath(project / "train.py")
    planned, _ = session.plan(path, {})
    files = {r.path for _, r in planned if r.path}
    indexes = {f: read_checkpoint(f) for f in files}
    stamps = {f: checkpoint_stamp(f) for f in files}
    analysis = session.analyse(path, 1, {}, planned, indexes, None, stamps, 1)
    line = TRAIN.splitlines().index('    net.load_state_dict(torch.load("ckpts/run.ckpt"))') + 1
    request = SourceRange(path, line, 0, line, 10**4)
    actions = session.code_actions(analysis, request, lambda p: Path(p).read_text())
    entry = [a for a in actions if a.fix.title == 'Pass the file\'s ["state_dict"]']
    assert len(entry) == 1 and entry[0].preferred
    fixed = apply_edits(TRAIN, entry[0].fix.edits).splitlines()[line - 1]
    assert fixed == '    net.load_state_dict(torch.load("ckpts/run.ckpt")["state_dict"])'
