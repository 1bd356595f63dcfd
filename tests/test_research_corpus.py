"""The research corpus (tests/research/): model code from public research repositories nobody
on this project wrote -- nanoGPT, minGPT, CLIP, whisper, DINOv2, SAM, DETR, Swin, ConvNeXt, DeiT,
lucidrains' ViTs and diffusion UNets, latent diffusion, Flux, LoRA, YOLOX, pytorch/examples and
more (tests/research/cases.py) -- predicted by ckptlens and built by torch on the meta device.

- No case is `wrong` (a known key or dim contradicting torch: a correct checkpoint would get a
  false error) and none makes ckptlens raise; torch's own state_dict checks without a mismatch
  finding.
- Every case is exact except those in NOT_EXACT (a floor: each of those stays unknown-only).
- A few exact cases get a dropped key and a changed dim: exactly that finding.

Only the vendored corpus (tests/research/corpus/, permissive licenses) is tested here; the
benchmark (benchmarks/bench_research.py) also sweeps a full export of the repositories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from research.cases import CASES, NOT_EXACT, Case  # noqa: E402
from research.harness import CORPUS, build_truth, predict_case, source  # noqa: E402
from sweep.checkpoints import with_dim_changed, without, write_sparse_safetensors  # noqa: E402

VENDORED = [c for c in CASES if source(c, CORPUS).is_file()]
# the variants: one case per family of constructs
VARIANT_CASES = ("karpathy/nanoGPT:model.py:GPT", "lucidrains/vit-pytorch:vit_pytorch/cvt.py:CvT",
                 "microsoft/LoRA:loralib/layers.py:Conv2d", "jik876/hifi-gan:models.py:Generator")

_TRUTH: dict[str, Any] = {}


def _truth(case: Case) -> Any:
    if case.id not in _TRUTH:
        _TRUTH[case.id] = build_truth(case, CORPUS)[0]
    return _TRUTH[case.id]


@pytest.fixture(scope="module")
def analyzer() -> Any:
    from ckptlens.api import Analyzer

    return Analyzer()


def test_the_corpus_is_vendored_with_its_licenses() -> None:
    assert len(VENDORED) >= 80
    repos = {c.repo for c in VENDORED}
    for repo in repos:
        folder = CORPUS / repo.replace("/", "__")
        assert (folder / "LICENSE").is_file(), repo
        for path in folder.rglob("*.py"):
            assert path.read_text().startswith(f"# ckptlens research corpus: from {repo}@"), path


@pytest.mark.parametrize("case", VENDORED, ids=lambda c: c.id)
def test_a_research_model_is_predicted_without_a_false_alarm(case: Case, analyzer: Any, tmp_path: Path) -> None:
    truth = _truth(case)
    record = predict_case(case, truth, analyzer, CORPUS)
    assert record["class"] != "error", record.get("error")
    assert record["class"] != "wrong", record.get("wrong")
    if case.id in NOT_EXACT:
        assert record["class"] == "unknown-only", record
    else:
        assert record["class"] == "exact", record
    # torch's own state_dict, as a header-only safetensors file: no mismatch finding
    from ckptlens.api import check
    from ckptlens.findings import MISMATCH_CODES

    saved = tmp_path / "model.safetensors"
    write_sparse_safetensors(saved, truth)
    result = check(str(source(case, CORPUS)), case.name, saved, init=case.init, config=case.config,
                   analyzer=analyzer)
    assert [f.message for f in result.findings if f.code in MISMATCH_CODES] == []


@pytest.mark.parametrize("variant", ["dropped", "changed-dim"])
@pytest.mark.parametrize("case_id", VARIANT_CASES)
def test_a_broken_checkpoint_of_a_research_model_is_found(case_id: str, variant: str, analyzer: Any,
                                                          tmp_path: Path) -> None:
    from ckptlens.api import check

    case = next(c for c in VENDORED if c.id == case_id)
    truth = _truth(case)
    key = next(k for k, s, _ in truth if len(s) >= 1 and s[0] > 1)  # its first dim is a real width
    if variant == "dropped":
        written, expected = without(truth, key), ("missing-key", key)
    else:
        written, expected = with_dim_changed(truth, key), ("shape-mismatch", key)
    saved = tmp_path / "model.safetensors"
    write_sparse_safetensors(saved, written)
    result = check(str(source(case, CORPUS)), case.name, saved, init=case.init, config=case.config,
                   analyzer=analyzer)
    found = [(f.code, k) for f in result.findings if f.code in ("missing-key", "shape-mismatch", "unexpected-key")
             for k in f.model_keys or f.checkpoint_keys]
    assert found == [expected]


def test_not_exact_names_only_cases_that_exist() -> None:
    ids = {c.id for c in CASES}
    assert set(NOT_EXACT) <= ids
