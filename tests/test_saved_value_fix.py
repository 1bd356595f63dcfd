"""Issue 15's quick fix: where a shape mismatch says the checkpoint was saved with another value
than the model is built with, the edit that builds it with the saved value: at the `__init__`
default, at the load site's constructor call, or in the directive. The edits are asserted
exactly, through the language server's session (as the editor asks for them) and through
`ckptlens check --workspace --diff`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ckptlens.findings import SourceRange
from ckptlens.fixes.edits import apply_edits
from ckptlens.fixes.saved_value import directive_fix, site_fix

NET = '''import torch.nn as nn


class Head(nn.Module):
    def __init__(self, dim, classes):
        super().__init__()
        self.fc = nn.Linear(dim, classes)


{directive}class Net(nn.Module):
    def __init__(self, width: int = 16, num_classes: int = 1000):
        super().__init__()
        self.body = nn.Linear(8, width)
        self.head = Head(width, num_classes)
'''
TRAIN = '''import torch
from net import Net

model = Net(num_classes=1000)
model.load_state_dict(torch.load("net.pt"))
'''


def _saved_checkpoint(tmp_path: Path) -> None:
    """Net(num_classes=10)'s weights."""
    net = nn.Module()
    net.body = nn.Linear(8, 16)
    net.head = nn.Module()
    net.head.fc = nn.Linear(16, 10)
    torch.save(net.state_dict(), tmp_path / "net.pt")


def _actions(tmp_path: Path, path: Path) -> tuple[list[Any], str]:
    """The code actions the editor gets on the class file's shape mismatch."""
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.lsp.analysis import Session, SessionOptions, checkpoint_stamp

    session = Session([str(tmp_path)], SessionOptions())
    planned, _ = session.plan(str(path), {})
    files = {r.path for _, r in planned if r.path}
    analysis = session.analyse(
        str(path), 1, {}, planned, {f: read_checkpoint(f) for f in files}, None, {f: checkpoint_stamp(f) for f in files}, 1
    )
    mismatches = [
        f for o in analysis.results if o.result for f in o.result.findings if f.code == "shape-mismatch"
    ]
    assert len(mismatches) == 1, [f.message for f in mismatches]
    (finding,) = mismatches
    actions = session.code_actions(analysis, finding.range, lambda p: Path(p).read_text())
    return actions, finding.message


def test_the_default_is_changed_to_the_saved_value(tmp_path: Path) -> None:
    _saved_checkpoint(tmp_path)
    path = tmp_path / "net.py"
    text = NET.format(directive="# ckptlens: checkpoint=net.pt\n")
    path.write_text(text)
    actions, message = _actions(tmp_path, path)
    assert message.startswith("the checkpoint was saved with `num_classes=10`; this model is built with `num_classes=1000` (the default)")
    (action,) = [a for a in actions if a.fix.title.startswith("Change the default")]
    assert action.fix.title == "Change the default of `num_classes` to 10 (the checkpoint was saved with it)"
    assert action.fix.edits == ((SourceRange(str(path), 12, 59, 12, 63), "10"),)
    assert apply_edits(text, action.fix.edits) == text.replace("num_classes: int = 1000", "num_classes: int = 10")


def test_the_load_sites_argument_is_changed_to_the_saved_value(tmp_path: Path) -> None:
    _saved_checkpoint(tmp_path)
    path = tmp_path / "net.py"
    path.write_text(NET.format(directive=""))
    train = tmp_path / "train.py"
    train.write_text(TRAIN)
    actions, message = _actions(tmp_path, path)
    assert message.startswith("the checkpoint was saved with `num_classes=10`; this model is built with `num_classes=1000` (the load site)")
    (action,) = [a for a in actions if a.fix.title.startswith("Pass")]
    assert action.fix.title == "Pass `num_classes=10` at the load site (the checkpoint was saved with it)"
    assert action.fix.edits == ((SourceRange(str(train), 4, 24, 4, 28), "10"),)
    assert apply_edits(TRAIN, action.fix.edits) == TRAIN.replace("Net(num_classes=1000)", "Net(num_classes=10)")


def test_a_positional_argument_and_an_ambiguous_site() -> None:
    source = "from net import Net\nmodel = Net(16, 1000)\nmodel.load_state_dict(torch.load('net.pt'))\n"
    load = SourceRange("t.py", 3, 0, 3, 44)
    fix = site_fix(source, "t.py", "load_state_dict", load, "Net", ("width", "num_classes"), "num_classes", 1000, 10)
    assert fix is not None and fix.edits == ((SourceRange("t.py", 2, 16, 2, 20), "10"),)
    twice = "from net import Net\na = Net(num_classes=1000)\nb = Net(num_classes=1000)\nb.load_state_dict(x)\n"
    assert site_fix(twice, "t.py", "load_state_dict", SourceRange("t.py", 4, 0, 4, 20), "Net", (), "num_classes", 1000, 10) is None
    # a value computed at the site is not a literal to change
    computed = "from net import Net\nmodel = Net(num_classes=500 * 2)\nmodel.load_state_dict(x)\n"
    assert site_fix(computed, "t.py", "load_state_dict", SourceRange("t.py", 3, 0, 3, 24), "Net", (), "num_classes", 1000, 10) is None
    lightning = "m = Net.load_from_checkpoint('x.ckpt', num_classes=1000)\n"
    fix = site_fix(lightning, "t.py", "load_from_checkpoint", SourceRange("t.py", 1, 4, 1, 56), "Net", (), "num_classes", 1000, 10)
    assert fix is not None and fix.edits == ((SourceRange("t.py", 1, 51, 1, 55), "10"),)


def test_the_directives_entry_is_changed_to_the_saved_value() -> None:
    text = "# ckptlens: checkpoint=net.pt init:num_classes=1000 init:width=16\nclass Net: ...\n"
    fix = directive_fix(text, SourceRange("m.py", 1, 23, 1, 29), "num_classes", 1000, 10)
    assert fix is not None
    assert apply_edits(text, fix.edits).splitlines()[0] == "# ckptlens: checkpoint=net.pt init:num_classes=10 init:width=16"
    assert directive_fix(text, SourceRange("m.py", 1, 23, 1, 29), "num_classes", 999, 10) is None


def test_check_workspace_fix_writes_the_saved_value(tmp_path: Path) -> None:
    """`ckptlens check PATH --fix` (the workspace check): the load site's fix is applied."""
    _saved_checkpoint(tmp_path)
    (tmp_path / "net.py").write_text(NET.format(directive=""))
    (tmp_path / "train.py").write_text(TRAIN)
    diff = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", str(tmp_path), "--diff"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert diff.returncode == 1
    assert "-model = Net(num_classes=1000)\n+model = Net(num_classes=10)\n" in diff.stdout
    out = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", str(tmp_path), "--fix"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert (tmp_path / "train.py").read_text() == TRAIN.replace("Net(num_classes=1000)", "Net(num_classes=10)"), out.stdout + out.stderr
