"""Library code patterns that left whole transformers models (or many of their keys) unknown
in the sweeps (issue 11, key coverage): each on a small hand-written model, with the exact keys
and shapes torch would give, and unknown -- never a guess -- where the value cannot be known."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ckptlens.api import predict


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _predict(tmp_path: Path, source: str, name: str = "Net", **kwargs: object):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(source))
    return predict(path, name, **kwargs)  # type: ignore[arg-type]


def _keys(predicted) -> dict[str, object]:
    return {k: t.shape for k, t in predicted.tensors.items()}


def _unknown(predicted) -> list[str]:
    return [part.prefix for part in predicted.unknown]


def test_a_known_library_base_is_known_inside_its_own_module_too(tmp_path: Path) -> None:
    # transformers' `PreTrainedAudioTokenizerBase(PreTrainedModel)` is defined in modeling_utils
    # itself (Encodec, DAC, Xcodec): its base there is the PreTrainedModel known by name, not
    # the source's __init__ (which stores into a registry under `str(self.__class__)`)
    _write(tmp_path, {
        "transformers/__init__.py": "",
        "transformers/modeling_utils.py": """
            import torch.nn as nn

            _REGISTRY = {}

            class PreTrainedModel(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.config = config
                    _REGISTRY[str(self.__class__)] = unknown_helper()

            class PreTrainedAudioTokenizerBase(PreTrainedModel):
                pass
            """,
    })
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn
        from transformers.modeling_utils import PreTrainedAudioTokenizerBase

        class Config:
            width = 6

        class Net(PreTrainedAudioTokenizerBase):
            def __init__(self):
                super().__init__(Config())
                self.proj = nn.Linear(self.config.width, 2)
        """,
    )
    assert _keys(predicted) == {"proj.weight": (2, 6), "proj.bias": (2,)}
    assert _unknown(predicted) == []
