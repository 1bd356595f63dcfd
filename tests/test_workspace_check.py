"""`ckptlens check` with no SOURCE: the workspace's linked classes, as the editor sees them.

The project is `tests/lsp_project` with its checkpoints (directives, a pyproject link, load
calls with strict=False, CUDA tensors, a missing, a corrupt and a refused checkpoint): the CLI
must report exactly what the language server's analysis (`Session`, driven per file as the
server drives it) shows for every file of it, plus the checkpoint each finding came from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from compare_helpers import SPEC_FINDING_FIELDS

torch = pytest.importorskip("torch")

from ckptlens.checkpoint import read_checkpoint  # noqa: E402
from ckptlens.cli import main  # noqa: E402
from ckptlens.lsp.analysis import Session, SessionOptions, checkpoint_stamp  # noqa: E402
from ckptlens.workspace_check import check_workspace  # noqa: E402
from lsp_checkpoints import build_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("ws") / "project")


@pytest.fixture
def project(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(shutil.copytree(template, tmp_path / "project"))
    monkeypatch.chdir(root)
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def editor_diagnostics(root: Path) -> set[tuple[Any, ...]]:
    """What the language server shows for every .py file of `root`, opened one by one."""
    session = Session([str(root)], SessionOptions())
    shown = set()
    for path in sorted(root.rglob("*.py")):
        real = os.path.realpath(path)
        planned, _ = session.plan(real, {})
        files = {r.path for _, r in planned if r.path}
        indexes: dict[str, Any] = {}
        for f in files:
            try:
                indexes[f] = read_checkpoint(f)
            except Exception as exc:  # noqa: BLE001 - the server keeps the one-line reason
                indexes[f] = " ".join(str(exc).split())
        stamps = {f: checkpoint_stamp(f) for f in files}
        analysis = session.analyse(real, 1, {}, planned, indexes, None, stamps, 1)
        for p in analysis.problems:
            shown.add((p.range.file, p.range.start_line, p.range.start_col + 1, p.code, p.severity.value, p.message))
    return shown


def test_reports_what_the_language_server_shows(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "--format", "json", "--no-cache", "--jobs", "1"], capsys)
    findings = json.loads(out)["findings"]
    reported = {(f["file"], f["line"], f["column"], f["code"], f["severity"], f["message"]) for f in findings}
    expected = editor_diagnostics(project)
    assert reported == expected
    assert len(findings) == len(reported)  # each diagnostic once
    codes = {f["code"] for f in findings}
    assert {
        "renamed-module",
        "shape-mismatch",
        "key-prefix",
        "strict-false-hides-mismatch",
        "cuda-tensors",
        "checkpoint-missing",
        "checkpoint-error",
    } <= codes
    assert code == 1


def test_json_has_the_ten_fields_and_the_link(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "--format", "json", "--no-cache"], capsys)
    data = json.loads(out)
    assert list(data) == ["findings"]
    for finding in data["findings"]:
        assert list(finding) == [*SPEC_FINDING_FIELDS, "link"]
    renamed = [f for f in data["findings"] if f["code"] == "renamed-module" and f["file"].endswith("directive_net.py")]
    assert [f["link"] for f in renamed] == [os.path.realpath(project / "ckpts" / "directive.pt")]
    assert renamed[0]["model_prefix"] == "layer_1" and renamed[0]["checkpoint_prefix"] == "layer1"
    missing = [f for f in data["findings"] if f["code"] == "checkpoint-missing"]
    assert [f["link"] for f in missing] == ["ckpts/nope.pt"]  # not found: as written
    assert code == 1


def test_sarif_is_one_run_over_every_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["check", "--format", "json", "--no-cache"], capsys)
    findings = json.loads(out)["findings"]
    code, out, _ = run(["check", "--format", "sarif", "--no-cache"], capsys)
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and len(sarif["runs"]) == 1
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        (f["code"], Path(f["file"]).as_uri(), f["line"]) for f in findings
    ]
    assert len({f["file"] for f in findings}) >= 5
    assert [r["properties"]["link"] for r in results] == [f["link"] for f in findings]
    assert code == 1


def _clean_project(root: Path, out: int = 5, name: str = "layer_1") -> Path:
    """A class `Net` linked by a directive to a checkpoint saved with `layer1` and a head of 5."""
    (root / "ckpts").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "p"\n')
    source = textwrap.dedent(
        f"""\
        from torch import nn


        # ckptlens: checkpoint=ckpts/net.pt
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.{name} = nn.Linear(4, 8)   # keep this comment
                self.head = nn.Linear(8,  {out})

            def forward(self, x):
                return self.head(self.{name}(x))
        """
    )
    (root / "net.py").write_text(source)
    state = {
        "layer1.weight": torch.zeros(8, 4),
        "layer1.bias": torch.zeros(8),
        "head.weight": torch.zeros(5, 8),
        "head.bias": torch.zeros(5),
    }
    torch.save(state, root / "ckpts" / "net.pt")
    return root


def test_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = _clean_project(tmp_path / "ok", name="layer1")
    monkeypatch.chdir(root)
    code, out, _ = run(["check", "--no-cache"], capsys)
    assert (code, out) == (0, "✓ 1 linked class checked\n")
    code, out, err = run(["check", "missing_dir", "--no-cache"], capsys)
    assert code == 2 and out == "" and "missing_dir: no such file or folder" in err
    (root / "pyproject.toml").write_text('[tool.ckptlens]\nunverified-severity = "loud"\n')
    code, out, err = run(["check", "--no-cache"], capsys)
    assert code == 2 and out == "" and "unverified-severity" in err and err.count("\n") == 1
    code, out, err = run(["check", "net.py", "--checkpoint", "ckpts/net.pt"], capsys)
    assert code == 2 and out == ""  # --checkpoint belongs to the one-class form


def test_single_class_form_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = _clean_project(tmp_path / "p")
    monkeypatch.chdir(root)
    code, out, _ = run(["check", "net.py", "--class", "Net", "--checkpoint", "ckpts/net.pt", "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and [f["code"] for f in data["findings"]] == ["renamed-module"]
    assert "link" not in data["findings"][0]
    code, out, err = run(["check", "net.py", "--class", "Net"], capsys)
    assert code == 2 and out == "" and "--checkpoint" in err


def test_diff_is_exact_and_fix_makes_the_recheck_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _clean_project(tmp_path / "p", out=3)
    monkeypatch.chdir(root)
    before = (root / "net.py").read_text()
    code, out, _ = run(["check", "--no-cache", "--format", "json"], capsys)
    assert sorted(f["code"] for f in json.loads(out)["findings"]) == ["renamed-module", "shape-mismatch"]
    code, out, _ = run(["check", "--diff", "--no-cache"], capsys)
    assert out == "".join(
        [
            "--- a/net.py\n",
            "+++ b/net.py\n",
            "@@ -5,8 +5,8 @@\n",
            " class Net(nn.Module):\n",
            "     def __init__(self):\n",
            "         super().__init__()\n",
            "-        self.layer_1 = nn.Linear(4, 8)   # keep this comment\n",
            "-        self.head = nn.Linear(8,  3)\n",
            "+        self.layer1 = nn.Linear(4, 8)   # keep this comment\n",
            "+        self.head = nn.Linear(8,  5)\n",
            " \n",
            "     def forward(self, x):\n",
            "-        return self.head(self.layer_1(x))\n",
            "+        return self.head(self.layer1(x))\n",
        ]
    )
    assert code == 1
    assert (root / "net.py").read_text() == before  # --diff changes nothing
    code, out, err = run(["check", "--fix", "--no-cache"], capsys)
    assert (code, out) == (0, "✓ 1 linked class checked\n")
    assert "fixed 1 file(s)" in err
    assert (root / "net.py").read_text() == before.replace("layer_1", "layer1").replace("8,  3", "8,  5")


def test_paths_and_exclude_select_links(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "models/directive_net.py", "--format", "json", "--no-cache"], capsys)
    findings = json.loads(out)["findings"]
    assert {(Path(f["file"]).name, f["code"]) for f in findings} == {("directive_net.py", "renamed-module")}
    assert code == 1
    with open(project / "pyproject.toml", "a") as handle:
        handle.write('\n[tool.ckptlens]\nexclude = ["models", "infer.py", "train.py"]\n')
    code, out, _ = run(["check", "--format", "json", "--no-cache"], capsys)
    assert json.loads(out)["findings"] == []  # the pyproject link's class sits in models/ too
    assert code == 0


def test_unverified_severity_from_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "p"
    (root / "ckpts").mkdir(parents=True)
    (root / "net.py").write_text(
        "from torch import nn\nfrom somewhere_unknown import Block\n\n\n"
        "# ckptlens: checkpoint=ckpts/net.pt\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.block = Block()\n"
    )
    torch.save({"block.weight": torch.zeros(2)}, root / "ckpts" / "net.pt")
    (root / "pyproject.toml").write_text('[tool.ckptlens]\nunverified-severity = "information"\n')
    monkeypatch.chdir(root)
    code, out, _ = run(["check", "--format", "json", "--no-cache"], capsys)
    unverified = [f for f in json.loads(out)["findings"] if f["code"] == "unverified"]
    assert [f["severity"] for f in unverified] == ["information"] and code == 0
    code, out, _ = run(["check", "--format", "json", "--no-cache", "--unverified-severity", "warning"], capsys)
    assert [f["severity"] for f in json.loads(out)["findings"] if f["code"] == "unverified"] == ["warning"]
    assert code == 1


def test_warm_run_answers_from_the_cache_until_something_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _clean_project(tmp_path / "p")
    monkeypatch.chdir(root)
    cold = check_workspace([], jobs=1)
    warm = check_workspace([], jobs=1)
    assert not cold.from_cache and warm.from_cache
    assert warm.findings == cold.findings and warm.links == cold.links == 1
    text = (root / "net.py").read_text().replace("layer_1", "layer1")
    (root / "net.py").write_text(text + "\n")  # another size: another stamp
    changed = check_workspace([], jobs=1)
    assert not changed.from_cache and changed.findings == ()
    torch.save({"fc.weight": torch.zeros(1)}, root / "ckpts" / "net.pt")
    os.utime(root / "ckpts" / "net.pt", ns=(1, 1))
    again = check_workspace([], jobs=1)
    assert not again.from_cache and again.fails
    (root / "ckpts" / "net.pt").unlink()
    gone = check_workspace([], jobs=1)
    assert [w.finding.code for w in gone.findings] == ["checkpoint-missing"]
    assert check_workspace([], jobs=1).from_cache
    torch.save({"layer1.weight": torch.zeros(8, 4), "layer1.bias": torch.zeros(8),
                "head.weight": torch.zeros(5, 8), "head.bias": torch.zeros(5)}, root / "ckpts" / "net.pt")
    back = check_workspace([], jobs=1)  # a checkpoint that appears where one was looked for
    assert not back.from_cache and back.findings == ()


def test_parallel_and_serial_runs_agree(project: Path) -> None:
    serial = check_workspace([], jobs=1, cache=False)
    parallel = check_workspace([], jobs=2, cache=False)
    assert serial.findings == parallel.findings and len(serial.findings) > 5


def test_command_line_entry_point(project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    done = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", "--format", "json"], capture_output=True, text=True, env=env, cwd=project
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["findings"]


def test_pre_commit_hook_is_shipped() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: ckptlens" in hooks and "entry: ckptlens check" in hooks
