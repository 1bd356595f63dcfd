"""Optional dependencies in library code: a module-level definition under a test known to fail
(`if is_xlstm_available():` without xlstm) is never used, and a class deriving from a base the
analysis cannot read is unknown, never a module with keys missing (transformers' xLSTM)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ckptlens.api import predict


def _write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def _keys(predicted) -> dict[str, object]:
    return {k: t.shape for k, t in predicted.tensors.items()}


def test_definitions_under_a_false_module_level_test_are_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "model.py",
        """
        import torch.nn as nn

        def has_fast_kernels():
            return False

        if has_fast_kernels():
            from fast_kernels import Block
        else:
            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block(4)
        """,
    )
    assert _keys(predict(path, "Net")) == {"block.fc.weight": (4, 4), "block.fc.bias": (4,)}


def test_an_unknown_test_still_prefers_the_first_definition(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "model.py",
        """
        import os
        import torch.nn as nn

        if os.environ.get("X"):
            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)
        else:
            class Block(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2 * dim)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block(4)
        """,
    )
    assert _keys(predict(path, "Net")) == {"block.fc.weight": (4, 4), "block.fc.bias": (4,)}


def test_a_class_with_an_unreadable_base_is_unknown(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "model.py",
        """
        import torch.nn as nn
        from missing_pkg import FancyBlock

        class Checkpointed(nn.Module):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)

        class Block(Checkpointed, FancyBlock):
            pass

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(10, 4)
                self.blocks = nn.ModuleList([Block(4) for _ in range(2)])
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"embed.weight": (10, 4)}
    assert sorted(p.prefix for p in predicted.unknown) == ["blocks.0", "blocks.1"]


def test_and_or_settle_on_a_known_operand_after_an_unknown_one(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "model.py",
        """
        import os
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                fast = os.environ.get("FAST") and False
                wide = os.environ.get("WIDE") or True
                self.fc = nn.Linear(4, 8 if fast else 16)
                self.out = nn.Linear(16, 3 if wide else 5)
                if os.environ.get("X") and self.fc is not None:
                    self.extra = nn.Linear(1, 1)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"fc.weight": (16, 4), "fc.bias": (16,), "out.weight": (3, 16), "out.bias": (3,)}
    # an operand that mentions `self` is never evaluated past an unknown one
    assert [p.prefix for p in predicted.unknown] == ["extra"]


@pytest.mark.parametrize(
    "name",
    [
        # blocks defined under `if is_xlstm_available():` (not installed) and natively in the else
        "xLSTMModel",
        # `AutoModel.from_config(config.tracker_config, remove_vision_encoder=True)`: the keyword
        # reaches the tracker's __init__, which then builds no vision encoder
        "Sam3VideoModel",
    ],
)
def test_transformers_models_equal_torch(name: str) -> None:
    import inspect

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cls = getattr(transformers, name)
    config = cls.config_class()
    with torch.device("meta"):
        truth = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
    predicted = predict(inspect.getsourcefile(cls), name, config=config.to_dict())
    assert predicted.unknown == ()
    assert _keys(predicted) == truth
    assert list(predicted.tensors) == list(truth)
