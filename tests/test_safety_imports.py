"""Issue 13 item 1: a `needs-trust` checkpoint's globals are listed with whether importing their
module is known to run code (`none` / `runs-code` / `unknown`, never guessed), in `inspect`'s
JSON (`"safety"."imports"`, added beside the SPEC fields) and text (`imports` row)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ckptlens.checkpoint.weights_only import (
    IMPORT_DEFINES_ONLY,
    IMPORT_KNOWN_TO_RUN,
    import_effect,
    import_effects_text,
)

# Writes a checkpoint naming a global of a `lightning` module, without lightning: the module
# is a stand-in registered under that name in the writing process only.
WRITE_LIGHTNING = """
import argparse, sys, types, uuid, torch
for name in ("lightning", "lightning.fabric", "lightning.fabric.utilities", "lightning.fabric.utilities.data"):
    sys.modules[name] = types.ModuleType(name)
class AttributeDict(dict):
    pass
AttributeDict.__module__ = "lightning.fabric.utilities.data"
sys.modules["lightning.fabric.utilities.data"].AttributeDict = AttributeDict
torch.save(
    {
        "state_dict": {"fc.weight": torch.zeros(2, 2)},
        "hyper_parameters": AttributeDict(lr=0.1),
        "args": argparse.Namespace(lr=0.1),
        "run": uuid.UUID(int=7),
    },
    sys.argv[1],
)
"""


@pytest.mark.parametrize(
    ("qualname", "effect"),
    [
        ("argparse.Namespace", "none"),
        ("pathlib.PosixPath", "none"),
        ("collections.defaultdict", "none"),
        ("collections.abc.Mapping", "none"),
        ("lightning.fabric.utilities.data.AttributeDict", "runs-code"),
        ("pytorch_lightning.utilities.parsing.AttributeDict", "runs-code"),
        ("antigravity.geohash", "runs-code"),
        ("numpy.core.multiarray.scalar", "unknown"),
        ("uuid.UUID", "unknown"),
        ("mypackage.Config", "unknown"),
        # a protocol-4 dotted name: no known module boundary, matched as written
        ("posixpath.os.posix_spawn", "unknown"),
        # a submodule of a module listed as defining only is not assumed to be so
        ("argparse.evil.Thing", "unknown"),
    ],
)
def test_import_effect(qualname: str, effect: str) -> None:
    assert import_effect(qualname) == effect


def test_the_tables_name_real_modules() -> None:
    """Every module said to define only names is a standard-library module; none is in both."""
    stdlib = sys.stdlib_module_names
    assert all(m.split(".")[0] in stdlib for m in IMPORT_DEFINES_ONLY)
    assert not set(IMPORT_DEFINES_ONLY) & set(IMPORT_KNOWN_TO_RUN)


def test_text_words() -> None:
    names = ["argparse.Namespace", "lightning.X", "foo.Y"]
    assert import_effects_text(names) == (
        "argparse.Namespace (import runs no code), lightning.X (import runs code), "
        "foo.Y (unknown whether its import runs code)"
    )
    assert import_effects_text([f"m{i}.C" for i in range(10)], limit=2).endswith("and 8 more")


@pytest.fixture(scope="module")
def lightning_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("safety") / "run.ckpt"
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WRITE_LIGHTNING), str(path)], check=True, timeout=120
    )
    return path


def inspect(path: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", "inspect", str(path), "--format", fmt],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_inspect_json_adds_imports_beside_the_spec_fields(lightning_ckpt: Path) -> None:
    run = inspect(lightning_ckpt, "json")
    assert run.returncode == 0, run.stderr
    safety = json.loads(run.stdout)["safety"]
    assert list(safety) == ["verdict", "globals", "reasons", "imports"]
    assert safety["verdict"] == "needs-trust"
    assert safety["globals"] == [
        "lightning.fabric.utilities.data.AttributeDict",
        "argparse.Namespace",
        "uuid.UUID",
    ]
    assert safety["imports"] == {
        "lightning.fabric.utilities.data.AttributeDict": "runs-code",
        "argparse.Namespace": "none",
        "uuid.UUID": "unknown",
    }


def test_inspect_text_has_an_imports_row(lightning_ckpt: Path) -> None:
    run = inspect(lightning_ckpt, "text")
    assert run.returncode == 0, run.stderr
    rows = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("imports")]
    assert rows == [
        "imports     lightning.fabric.utilities.data.AttributeDict (import runs code), "
        "argparse.Namespace (import runs no code), uuid.UUID (unknown whether its import runs code)"
    ]


def test_a_safe_checkpoint_lists_no_imports(tmp_path: Path) -> None:
    import torch

    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    run = inspect(tmp_path / "w.pt", "json")
    assert json.loads(run.stdout)["safety"] == {
        "verdict": "safe",
        "globals": [],
        "reasons": [],
        "imports": {},
    }
    assert "imports" not in inspect(tmp_path / "w.pt", "text").stdout


def test_the_hover_section_lists_globals_with_their_imports_and_escapes_them() -> None:
    from ckptlens.checkpoint.weights_only import Safety
    from ckptlens.render.hover import safety_markdown

    assert safety_markdown(Safety()) == "Safety: **safe** · `torch.load(weights_only=True)` loads it"
    hostile = "evil.`x`|\x1b[2J"
    text = safety_markdown(
        Safety("needs-trust", ("argparse.Namespace", "lightning.A", hostile), ("uses opcode X",))
    )
    assert text.splitlines() == [
        "Safety: **needs-trust** · `torch.load(weights_only=True)` refuses it; "
        "`weights_only=False` imports and runs what it names: only for a file you trust",
        "",
        "| global outside the allow-list | its import |",
        "| --- | --- |",
        "| `argparse.Namespace` | no code |",
        "| `lightning.A` | runs code |",
        "| `evil.'x'\\|\\x1b[2J` | unknown |",
        "- uses opcode X",
    ]
