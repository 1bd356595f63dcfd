"""The engine stays pure (no torch, pygls or lsprotocol) and the CLI starts light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compare_helpers import SPEC_FINDING_FIELDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pygls", "lsprotocol", "numpy", "libcst", "lightning", "transformers",
         "huggingface_hub", "fsspec", "s3fs", "gcsfs", "adlfs")  # remote libraries: imported only when used


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import ckptlens.cli",
        "import ckptlens.api",
        "import ckptlens.engine.compare, ckptlens.engine.predict, ckptlens.checkpoint.reader",
        "import ckptlens.render, ckptlens.engine.mapping_code",
    ],
)
def test_engine_and_cli_import_no_heavy_package(statement: str) -> None:
    loaded = _modules_after(statement)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_engine_sources_never_import_adapters() -> None:
    """Only ckptlens/lsp may import pygls/lsprotocol; nothing in server/ imports torch."""
    for path in (ROOT / "server" / "ckptlens").rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(ROOT / "server" / "ckptlens").as_posix()
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped.startswith(("import ", "from ")):
                continue
            root = stripped.split()[1].split(".")[0]
            assert root != "torch", f"{rel}: {stripped}"
            if not rel.startswith("lsp/"):
                assert root not in ("pygls", "lsprotocol"), f"{rel}: {stripped}"


def test_check_on_the_shipped_example_end_to_end() -> None:
    example = ROOT / "fixtures" / "examples"
    run = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", str(example / "mlp.py"), "--class", "MLP",
         "--checkpoint", str(example / "mlp_module_prefix.pt"), "--format", "json"],
        capture_output=True, text=True,
    )
    assert run.returncode == 1, run.stderr
    findings = json.loads(run.stdout)["findings"]
    assert [(f["code"], f["line"], f["column"], f["checkpoint_prefix"], f["model_prefix"]) for f in findings] == [
        ("key-prefix", 6, 7, "module", None),
        ("renamed-module", 9, 9, "layer1", "layer_1"),
    ]
    for finding in findings:
        assert list(finding) == SPEC_FINDING_FIELDS
    clean = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", str(example / "mlp.py"), "--class", "MLP",
         "--checkpoint", str(example / "mlp.pt"), "--format", "json"],
        capture_output=True, text=True,
    )
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout) == {
        "findings": [],
        "coverage": {"tensors": 4, "checked": 4, "keys_only": 0, "unchecked": 0},
        "inferred": {},  # SPEC §5: always present; every value is given here
        # beside the SPEC fields: the constructor values used and their sources
        "constructor": {
            "in_features": {"value": 10, "source": "default"},
            "hidden": {"value": 20, "source": "default"},
            "num_classes": {"value": 2, "source": "default"},
        },
    }
