"""`ckptlens find`: the checkpoints of a tree ranked by how they fit a class.

The checkpoints are the fixture variants of test_check_variants (written by real torch and
Lightning); each variant's fit follows from what it did to the model's state_dict: untouched
in any container -> exact; a wrapper prefix or a renamed submodule -> mapped; modules dropped,
added, or dims changed -> partial; another subject's model -> whatever share it fills."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ckptlens import api
from ckptlens.find import FITS, classify, discover, find, render_find_text
from compare_helpers import SPEC_FINDING_FIELDS
from fixture_truth import fixture_path
from test_check_variants import (
    VARIANTS,
    CheckpointFactory,
    Variant,
    checkpoints,  # noqa: F401 - the session fixture
)

SUBJECT = "cnn.SmallCNN"


def _expected_fit(v: Variant) -> str:
    if v.expect_shapes or v.expect_missing or v.expect_unexpected or v.expect_reverse_prefix:
        return "partial"
    if v.expect_prefix or v.expect_renames:
        return "mapped"
    return "exact"


def _tree(root: Path, factory: CheckpointFactory, variants: list[Variant]) -> dict[str, Variant]:
    """Each variant's checkpoint copied into a Lightning-like tree; name -> variant."""
    placed: dict[str, Variant] = {}
    for i, v in enumerate(variants):
        src = factory.get(v).path
        folder = root / "lightning_logs" / f"version_{i}" / "checkpoints"
        folder.mkdir(parents=True)
        dst = folder / src.name
        shutil.copyfile(src, dst)
        placed[str(dst.absolute())] = v
    return placed


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, checkpoints: CheckpointFactory) -> tuple[Path, dict[str, Variant]]:  # noqa: F811
    root = tmp_path_factory.mktemp("ckptlens-find")
    mine = [v for v in VARIANTS if v.case_id == SUBJECT]
    others = [v for v in VARIANTS if v.id == "mlp.MLP/clean-zip"]
    placed = _tree(root, checkpoints, mine + others)
    # never searched: hidden folders, virtual environments, node_modules
    for skipped in (".git", "node_modules", ".venv/lib"):
        (root / skipped).mkdir(parents=True)
        shutil.copyfile(checkpoints.get(mine[0]).path, root / skipped / "hidden.pt")
    (root / "notes.txt").write_text("not a checkpoint\n")
    (root / "broken.ckpt").write_bytes(b"PK\x03\x04 truncated")
    return root, placed


def test_find_ranks_by_fit(tree: tuple[Path, dict[str, Variant]]) -> None:
    root, placed = tree
    result = find(fixture_path("cnn.py"), "SmallCNN", [root])
    got = {c.checkpoint: c for c in result.candidates}
    assert set(got) == set(placed)  # hidden, venv and node_modules copies are not searched
    for path, v in placed.items():
        c = got[path]
        if v.case_id != SUBJECT:
            assert c.fit in ("partial", "unrelated"), (v.id, c.fit)
            continue
        assert c.fit == _expected_fit(v), (v.id, c.fit, [f.code for f in c.findings])
        if c.fit in ("exact", "mapped"):
            assert c.matched == c.total > 0, v.id
            assert not [f for f in c.findings if f.code in ("missing-key", "unexpected-key", "shape-mismatch")]
        if c.fit == "mapped":
            assert any(k != m for k, m in c.mapping.mapping.items()), v.id
        if c.fit == "partial":
            assert 0 < c.matched <= c.total
    # best first: by fit, then by the share of the model filled
    ranks = [(FITS.index(c.fit), -c.share) for c in result.candidates]
    assert ranks == sorted(ranks)
    assert [u.checkpoint for u in result.unreadable] == [str(root / "broken.ckpt")]


def test_shared_comparisons_change_nothing(tree: tuple[Path, dict[str, Variant]]) -> None:
    """find compares checkpoints with the same keys, shapes and dtypes once: every candidate's
    findings and counts are those of its own `check`."""
    root, placed = tree
    result = find(fixture_path("cnn.py"), "SmallCNN", [root])
    for c in result.candidates:
        # find ranks many checkpoints: it infers no constructor values (issue 15), as check can be told
        alone = api.check(fixture_path("cnn.py"), "SmallCNN", c.checkpoint, infer_values=False)
        assert (c.matched, c.total) == (alone.comparison.matched, alone.comparison.total)
        assert c.findings == [f for f in alone.findings if f.is_mismatch or f.fails]
        assert c.mapping == alone.mapping
        assert c.fit == classify(alone)


def test_find_json_and_exit_codes(tree: tuple[Path, dict[str, Variant]]) -> None:
    root, placed = tree
    proc = _cli("find", fixture_path("cnn.py"), "--class", "SmallCNN", root, "--format", "json")
    assert proc.returncode == 0, proc.stderr  # at least one checkpoint fits
    data = json.loads(proc.stdout)
    assert list(data) == ["candidates", "unreadable"]
    assert len(data["candidates"]) == len(placed)
    for c in data["candidates"]:
        assert list(c)[:5] == ["checkpoint", "fit", "matched", "total", "findings"]
        assert set(c) - {"checkpoint", "fit", "matched", "total", "findings"} <= {"mapping"}
        assert ("mapping" in c) == (c["fit"] in ("mapped", "partial"))
        for f in c["findings"]:
            assert list(f) == SPEC_FINDING_FIELDS
    fits = [c["fit"] for c in data["candidates"]]
    assert fits == sorted(fits, key=FITS.index)
    # a tree without a fitting checkpoint: exit 1; only the unrelated model's checkpoint
    only_other = [p for p, v in placed.items() if v.case_id != SUBJECT]
    proc = _cli("find", fixture_path("cnn.py"), "--class", "SmallCNN", *only_other)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.strip().endswith("SmallCNN: 0 of 1 checkpoint fit")


def test_find_text(tree: tuple[Path, dict[str, Variant]]) -> None:
    root, placed = tree
    result = find(fixture_path("cnn.py"), "SmallCNN", [root])
    text = render_find_text(result, cwd=str(root))
    lines = text.splitlines()
    fitting = sum(1 for v in placed.values() if v.case_id == SUBJECT and _expected_fit(v) in ("exact", "mapped"))
    assert lines[-1] == f"SmallCNN: {fitting} of {len(placed)} checkpoints fit"
    first = lines[0].split()
    assert first[0] == "exact"
    assert first[1].startswith("lightning_logs/version_")  # relative to the folder searched
    partial = next(line for line in lines if line.startswith("partial"))
    assert "fills " in partial and "%" in partial
    mapped_prefix = [line for line in lines if line.startswith("mapped") and "strip module." in line]
    assert mapped_prefix


def test_find_bad_usage(tmp_path: Path) -> None:
    proc = _cli("find", fixture_path("cnn.py"), "--class", "NoSuchNet", tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _cli("find", fixture_path("cnn.py"), "--class", "SmallCNN", tmp_path / "nowhere")
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    proc = _cli("find", fixture_path("cnn.py"), "--class", "SmallCNN", tmp_path, "--bogus")
    assert proc.returncode == 2


def test_discover_counts_a_sharded_folder_once(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file({"a": torch.zeros(2)}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({"b": torch.zeros(2)}, str(folder / "model-00002-of-00002.safetensors"))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
    )
    torch.save({"x": torch.zeros(1)}, tmp_path / "one.pth")
    assert discover([tmp_path]) == [tmp_path / "one.pth", folder]  # a folder's files, then its subfolders


def test_find_lightning_hparams_build_each_model(checkpoints: CheckpointFactory, tmp_path: Path) -> None:  # noqa: F811
    """A real Lightning checkpoint whose hyper_parameters size the model: exact, while a
    checkpoint of the default-sized model in the same tree is exact for its own arguments."""
    lightning = next(v for v in VARIANTS if v.id == "lightning:hparams-build-the-model")
    clean = next(v for v in VARIANTS if v.id == "lit_pl.LitClassifier/clean-lightning-dict")
    placed = _tree(tmp_path, checkpoints, [lightning, clean])
    result = find(fixture_path("lit_pl.py"), "LitClassifier", [tmp_path])
    fits = {placed[c.checkpoint].id: c.fit for c in result.candidates}
    assert fits == {lightning.id: "exact", clean.id: "exact"}


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )
