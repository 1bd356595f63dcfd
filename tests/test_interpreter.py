"""The abstract interpreter on inline sources: what it knows is exact, what it cannot know is
unknown (never a guess), and it always terminates."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from ckptlens.api import predict
from ckptlens.engine.loader import SourceError
from ckptlens.engine.predict import TargetError
from ckptlens.findings import UNRESOLVED, Severity


def _write(tmp_path: Path, source: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _keys(predicted) -> dict[str, object]:
    return {k: t.shape for k, t in predicted.tensors.items()}


def test_unknown_condition_merges_both_branches_dims_become_unknown(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import os
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                wide = os.environ.get("WIDE") == "1"
                if wide:
                    self.fc = nn.Linear(8, 64)
                else:
                    self.fc = nn.Linear(8, 32)
                self.out = nn.Linear(4, 2)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {
        "fc.weight": (None, 8),
        "fc.bias": (None,),
        "out.weight": (2, 4),
        "out.bias": (2,),
    }
    assert predicted.unknown == ()
    infos = [f for f in predicted.findings if f.code == UNRESOLVED]
    assert len(infos) == 1 and infos[0].severity is Severity.INFORMATION
    assert infos[0].model_keys == ("fc.weight", "fc.bias")
    assert "WIDE" in infos[0].message or "wide" in infos[0].message


def test_layer_present_in_one_branch_only_is_an_unknown_part(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from somewhere_missing import decide

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, 2)
                if decide():
                    self.extra = nn.Linear(2, 3)
                self.b = nn.Linear(2, 1, bias=False)
        """,
    )
    predicted = predict(path, "Net")
    assert list(predicted.tensors) == ["a.weight", "a.bias", "b.weight"]
    assert [u.prefix for u in predicted.unknown] == ["extra"]
    assert predicted.is_unknown("extra.weight") and not predicted.is_unknown("a.weight")


def test_loop_of_unknown_length_makes_the_container_unknown(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, depth):
                super().__init__()
                self.layers = nn.ModuleList()
                for _ in range(depth):
                    self.layers.append(nn.Linear(4, 4))
                self.head = nn.Linear(4, 1)
        """,
    )
    predicted = predict(path, "Net")
    assert list(predicted.tensors) == ["head.weight", "head.bias"]
    assert [u.prefix for u in predicted.unknown] == ["layers"]
    message = next(f.message for f in predicted.findings if f.model_prefix == "layers")
    assert "depth" in message
    # with the argument given, everything is known
    known = predict(path, "Net", init={"depth": 2})
    assert list(known.tensors) == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "head.weight", "head.bias",
    ]
    assert known.unknown == ()


def test_unresolvable_import_is_unknown_and_the_rest_exact(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from not_installed_pkg import FancyBlock

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 8, 3)
                self.block = FancyBlock(8)
                self.head = nn.Linear(8, 10)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {
        "stem.weight": (8, 3, 3, 3),
        "stem.bias": (8,),
        "head.weight": (10, 8),
        "head.bias": (10,),
    }
    [part] = predicted.unknown
    assert part.prefix == "block" and "not_installed_pkg" in part.reason
    assert (part.origin.start_line, part.origin.start_col) == (9, 8)


def test_branch_that_raises_is_discarded(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        class Attn(nn.Module):
            def __init__(self, dim, heads=4):
                super().__init__()
                if dim % heads != 0:
                    raise ValueError("dim must divide")
                self.head_dim = dim // heads
                self.qkv = nn.Linear(dim, 3 * self.head_dim * heads)
        """,
    )
    assert _keys(predict(path, "Attn", init={"dim": 32})) == {"qkv.weight": (96, 32), "qkv.bias": (96,)}


def test_missing_required_argument_is_unknown_with_a_hint(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.fc = nn.Linear(16, num_classes)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"fc.weight": (None, 16), "fc.bias": (None,)}
    assert any("--init num_classes=" in f.message for f in predicted.findings)
    assert _keys(predict(path, "Net", init={"num_classes": 7})) == {"fc.weight": (7, 16), "fc.bias": (7,)}


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ("while True:\n                    pass", "whole model unknown"),
        # too long to unroll: `i` is unknown, so attributes with unknown names may be added;
        # `fc` is still predicted, and the module is open to more keys
        ("for i in range(10**9):\n                    setattr(self, f'l{i}', nn.Linear(2, 2))", "open"),
        ("for i in range(90000):\n                    self.add_module(f'l{i}', nn.Linear(2, 2))", "whole model unknown"),
        # endless recursion: only that call is given up; it builds nothing the model keeps
        ("self.build(0)", "clean"),
    ],
)
def test_runaway_code_terminates_quickly_as_unknown(tmp_path: Path, body: str, outcome: str) -> None:
    path = _write(
        tmp_path,
        f"""
        import torch.nn as nn

        class Net(nn.Module):
            def build(self, n):
                return self.build(n + 1)

            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                {body}
        """,
    )
    start = time.perf_counter()
    predicted = predict(path, "Net")
    assert time.perf_counter() - start < 60  # a hang guard; the interpreter's own cap is 10 s
    if outcome == "whole model unknown":
        assert [u.prefix for u in predicted.unknown] == [""]
    elif outcome == "open":
        assert predicted.unknown == () and list(predicted.tensors) == ["fc.weight", "fc.bias"]
        assert [(p.prefix, p.reason) for p in predicted.open] == [("", "an attribute with an unknown name is set on it")]
    else:
        assert predicted.unknown == () and list(predicted.tensors) == ["fc.weight", "fc.bias"]


def test_syntax_error_and_unknown_class_are_clear_errors(tmp_path: Path) -> None:
    broken = _write(tmp_path, "class Net(nn.Module:\n    pass\n", "broken.py")
    with pytest.raises(SourceError, match="syntax error"):
        predict(broken, "Net")
    fine = _write(tmp_path, "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n", "fine.py")
    with pytest.raises(TargetError, match="no class or function named `Nope`"):
        predict(fine, "Nope")
    assert predict(fine, "Net").tensors == {}


def test_reassignment_keeps_position_and_tied_weights_keep_both_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        class LM(nn.Module):
            def __init__(self, vocab=11, dim=6):
                super().__init__()
                self.embed = nn.Embedding(vocab, dim)
                self.proj = nn.Linear(dim, dim)
                self.decoder = nn.Linear(dim, vocab, bias=False)
                self.embed = nn.Embedding(vocab, dim, padding_idx=0)
                self.decoder.weight = self.embed.weight
        """,
    )
    assert _keys(predict(path, "LM")) == {
        "embed.weight": (11, 6),
        "proj.weight": (6, 6),
        "proj.bias": (6,),
        "decoder.weight": (11, 6),
    }
    assert list(predict(path, "LM").tensors) == ["embed.weight", "proj.weight", "proj.bias", "decoder.weight"]
