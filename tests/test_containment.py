"""A failure while building one part of a model makes only that part unknown (issue: real-world
coverage, items 2 and 3): the rest is still predicted and checked, what the failure may have
changed besides is unknown (never stale), and a call the analysis cannot follow on a module
leaves that module open to more keys, whose unexpected keys are `unverified`, not errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import torch

from ckptlens.api import check, predict
from ckptlens.findings import UNEXPECTED_KEY, UNVERIFIED


def _write(tmp_path: Path, source: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _keys(predicted) -> dict[str, object]:
    return {k: t.shape for k, t in predicted.tensors.items()}


LIB = """
import torch.nn as nn

class Block(nn.Module):
    def __init__(self, cin, cout, kind="a"):
        super().__init__()
        if kind not in ("a", "b"):
            raise ValueError(f"unknown kind {kind}")
        self.conv = nn.Conv2d(cin, cout, 3)


def spin():
    n = 0
    while True:
        n += 1
"""


def test_a_raising_submodule_is_the_only_unknown_part(tmp_path: Path) -> None:
    _write(tmp_path, LIB, "lib.py")
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import Block

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 8, 3)
                self.body = Block(8, 8, kind="weird")
                self.head = nn.Linear(8, 2)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {
        "stem.weight": (8, 3, 3, 3),
        "stem.bias": (8,),
        "head.weight": (2, 8),
        "head.bias": (2,),
    }
    (part,) = predicted.unknown
    assert part.prefix == "body"
    assert (part.origin.file, part.origin.start_line, part.origin.start_col) == (str(path), 9, 8)
    assert "raise ValueError" in part.reason and "lib.py:8" in part.reason

    state = {
        "stem.weight": torch.zeros(8, 3, 3, 3),
        "stem.bias": torch.zeros(8),
        "body.conv.weight": torch.zeros(8, 8, 3, 3),
        "body.conv.bias": torch.zeros(8),
        "head.weight": torch.zeros(5, 8),
        "head.bias": torch.zeros(5),
    }
    torch.save(state, tmp_path / "net.pt")
    result = check(path, "Net", tmp_path / "net.pt")
    codes = sorted(f.code for f in result.findings if f.fails)
    assert codes == ["shape-mismatch", UNVERIFIED]  # the head is still checked
    (unverified,) = [f for f in result.findings if f.code == UNVERIFIED]
    assert unverified.range.start_line == 9
    assert unverified.checkpoint_keys == ("body.conv.weight", "body.conv.bias")
    assert "lib.py:8" in unverified.message
    assert result.coverage.to_json() == {"tensors": 6, "checked": 4, "keys_only": 0, "unchecked": 2}


def test_a_failing_helper_leaves_attributes_it_writes_unknown_not_stale(tmp_path: Path) -> None:
    _write(tmp_path, LIB, "lib.py")
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import Block

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.inplanes = 8
                self.layer1 = self._make_layer(16, "weird")
                self.layer2 = self._make_layer(32, "a")

            def _make_layer(self, planes, kind):
                if kind == "weird":
                    raise ValueError(kind)
                block = Block(self.inplanes, planes, kind)
                self.inplanes = planes
                return block
        """,
    )
    predicted = predict(path, "Net")
    # `self.inplanes` would have been 16 had layer1 been built: layer2's input dim is unknown
    assert _keys(predicted) == {"layer2.conv.weight": (32, None, 3, 3), "layer2.conv.bias": (32,)}
    assert [p.prefix for p in predicted.unknown] == ["layer1"]


def test_a_failed_append_keeps_the_indices_of_the_items_after_it(tmp_path: Path) -> None:
    _write(tmp_path, LIB, "lib.py")
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import Block

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                layers = []
                for i in range(3):
                    layers.append(Block(8, 8, "weird" if i == 1 else "a"))
                self.blocks = nn.Sequential(*layers)
                self.more = nn.ModuleList()
                for i in range(3):
                    self.more.append(Block(4, 4, "weird" if i == 0 else "b"))
        """,
    )
    predicted = predict(path, "Net")
    assert list(predicted.tensors) == [
        "blocks.0.conv.weight",
        "blocks.0.conv.bias",
        "blocks.2.conv.weight",
        "blocks.2.conv.bias",
        "more.1.conv.weight",
        "more.1.conv.bias",
        "more.2.conv.weight",
        "more.2.conv.bias",
    ]
    assert sorted(p.prefix for p in predicted.unknown) == ["blocks.1", "more.0"]


def test_a_raise_inside_try_still_runs_the_handler(tmp_path: Path) -> None:
    _write(tmp_path, LIB, "lib.py")
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import Block

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                try:
                    self.body = Block(8, 8, kind="weird")
                except ValueError:
                    self.body = nn.Linear(8, 8)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"body.weight": (8, 8), "body.bias": (8,)}
    assert predicted.unknown == ()


def test_a_runaway_part_is_contained(tmp_path: Path) -> None:
    _write(tmp_path, LIB, "lib.py")
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import spin

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.odd = spin()
                self.out = nn.Linear(2, 3)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"fc.weight": (2, 2), "fc.bias": (2,), "out.weight": (3, 2), "out.bias": (3,)}
    (part,) = predicted.unknown
    assert part.prefix == "odd" and "a while loop did not end at lib.py:" in part.reason


def test_splatted_add_module_leaves_the_module_open(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import os
        import torch.nn as nn

        def stages():
            return [(f"stage{i}", nn.Linear(4, 4)) for i in range(int(os.environ["N"]))]

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Linear(3, 4)
                for stage in stages():
                    self.add_module(*stage)
                self.head = nn.Linear(4, 2)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"stem.weight": (4, 3), "stem.bias": (4,), "head.weight": (2, 4), "head.bias": (2,)}
    (part,) = predicted.open
    assert part.prefix == "" and "add_module(*stage)" in part.reason

    real = torch.nn.Module()
    real.stem = torch.nn.Linear(3, 4)
    real.add_module("stage0", torch.nn.Linear(4, 4))
    real.head = torch.nn.Linear(4, 2)
    torch.save(real.state_dict(), tmp_path / "net.pt")
    result = check(path, "Net", tmp_path / "net.pt")
    assert not [f for f in result.findings if f.code == UNEXPECTED_KEY]  # never a false alarm
    (unverified,) = [f for f in result.findings if f.code == UNVERIFIED]
    assert unverified.checkpoint_keys == ("stage0.weight", "stage0.bias")
    assert result.coverage.unchecked == 2 and result.coverage.checked == 4

    # the known parts are still checked: a changed head is a mismatch
    real.head = torch.nn.Linear(4, 7)
    torch.save(real.state_dict(), tmp_path / "bad.pt")
    bad = check(path, "Net", tmp_path / "bad.pt")
    assert [f.model_keys for f in bad.findings if f.code == "shape-mismatch"] == [("head.weight", "head.bias")]


def test_unverified_points_at_the_users_line_for_a_part_failing_inside_a_library(tmp_path: Path) -> None:
    _write(
        tmp_path,
        LIB
        + """

class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block(3, 8)
        self.second = Block(8, 8, kind="weird")
""",
        "lib.py",
    )
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import Backbone

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = Backbone()
                self.head = nn.Linear(8, 2)
        """,
    )
    state = {
        "backbone.first.conv.weight": torch.zeros(8, 3, 3, 3),
        "backbone.first.conv.bias": torch.zeros(8),
        "backbone.second.conv.weight": torch.zeros(8, 8, 3, 3),
        "backbone.second.conv.bias": torch.zeros(8),
        "head.weight": torch.zeros(2, 8),
        "head.bias": torch.zeros(2),
    }
    torch.save(state, tmp_path / "net.pt")
    result = check(path, "Net", tmp_path / "net.pt")
    (unverified,) = [f for f in result.findings if f.code == UNVERIFIED]
    assert unverified.model_prefix == "backbone.second"
    assert (unverified.range.file, unverified.range.start_line) == (str(path), 8)  # `self.backbone = ...`
    assert "lib.py:8" in unverified.message  # where resolution stopped
    assert result.coverage.checked == 4 and result.coverage.unchecked == 2


def test_once_a_budget_runs_out_every_later_step_stops_at_once(tmp_path: Path, monkeypatch) -> None:
    """A contained budget failure must not let the analysis run on past its cap: the rest of
    the model becomes unknown at once (the steps taken stay within the budget)."""
    from ckptlens.engine.interp import interpreter as interpreter_module
    from ckptlens.engine.interp.interpreter import Interpreter
    from ckptlens.engine.loader import Loader

    monkeypatch.setattr(interpreter_module, "MAX_STEPS", 2_000)
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        def slow(n):
            total = 0
            for i in range(n):
                total += i
            return total

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, slow(5000))
                self.b = nn.Linear(2, slow(5000))
                self.c = nn.Linear(2, 2)
        """,
    )
    interp = Interpreter(Loader())
    scope = interp.scope_for(str(path))
    _, cls = scope.lookup("Net")
    root = interp.instantiate(cls, [], {})
    assert interp.steps <= 2_000 + 50
    assert sorted(n for n, c in root.children.items() if c is not None and c.opaque) == ["a", "b", "c"]


def test_a_failing_method_of_self_is_not_contained(tmp_path: Path) -> None:
    """`reset_classifier` would have replaced `head` (and could have changed anything else):
    a method of `self` that fails leaves the module unknown, never with the stale
    `Linear(8, 1000)` (a false shape mismatch on every fine-tuned checkpoint)."""
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                self.body = nn.Linear(4, 8)
                self.head = nn.Linear(8, 1000)
                self.reset_classifier(num_classes)

            def reset_classifier(self, n):
                if n != 1000:
                    raise NotImplementedError("the analysis takes this path")
                self.head = nn.Linear(8, n)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {}
    assert [p.prefix for p in predicted.unknown] == [""]


def test_a_failed_assignment_leaves_what_its_calls_were_handed_unknown(tmp_path: Path) -> None:
    """`self.head = make_head(self.body, dims)` failed midway: `make_head` may have changed the
    `body` it was handed and the `dims` list: both are unknown afterwards, never stale."""
    _write(tmp_path, LIB, "lib.py")
    path = _write(
        tmp_path,
        """
        import torch.nn as nn
        from lib import Block

        def make_head(body, dims):
            body.extra = nn.Linear(2, 2)
            dims.append(99)
            if len(dims) > 1:
                raise ValueError("the analysis takes this path")
            return Block(1, 1)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(4, 8))
                dims = [8]
                self.head = make_head(self.body, dims)
                self.out = nn.Linear(dims[-1], 2)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"out.weight": (2, None), "out.bias": (2,)}
    assert sorted(p.prefix for p in predicted.unknown) == ["body", "head"]


def test_container_edits_the_analysis_cannot_follow_make_the_part_unknown(tmp_path: Path) -> None:
    """torchvision's IntermediateLayerGetter copies `model.named_children()` into a dict: with
    the model unknown, the dict's keys are unknown, and the wrapper is unknown — never an empty
    ModuleDict (that would report every backbone key of a correct checkpoint as unexpected)."""
    path = _write(
        tmp_path,
        """
        import os
        from collections import OrderedDict
        import torch.nn as nn

        class Getter(nn.ModuleDict):
            def __init__(self, model, keep):
                layers = OrderedDict()
                for name, module in model.named_children():
                    layers[name] = module
                super().__init__(layers)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                backbone = nn.Sequential(nn.Linear(2, 2)) if os.environ.get("A") else nn.Linear(2, 2)
                self.backbone = Getter(backbone, ["0"])
                names = ["a", "b"]
                names.remove(os.environ.get("DROP"))
                self.heads = nn.ModuleDict({n: nn.Linear(2, 2) for n in names})
                self.out = nn.Linear(2, 3)
        """,
    )
    predicted = predict(path, "Net")
    assert _keys(predicted) == {"out.weight": (3, 2), "out.bias": (3,)}
    reasons = {p.prefix: p.reason for p in predicted.unknown}
    assert sorted(reasons) == ["backbone", "heads"]
    assert "an item is stored under an unknown key" in reasons["backbone"]


def test_deep_copies_are_distinct_tensors_not_ties(tmp_path: Path) -> None:
    """`copy.deepcopy(layer)` (nn.TransformerEncoder's clones) makes new tensors: no key is
    reported as tied to another (a tie would excuse a missing key)."""
    path = _write(
        tmp_path,
        """
        import copy
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                block = nn.Linear(4, 4)
                self.blocks = nn.ModuleList([copy.deepcopy(block) for _ in range(2)])
                self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
        """,
    )
    predicted = predict(path, "Net")
    assert predicted.tied == {}
    assert len(predicted.tensors) == 4 + 24


def test_slice_assignment_and_deletion_on_lists(tmp_path: Path) -> None:
    """timm's `val2tuple`: `x[-1:-1] = [...]` inserts; `del x[:1]` removes (no unknown key)."""
    path = _write(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                x = [8]
                x[-1:-1] = [x[-1] for _ in range(3 - len(x))]
                y = [1, 2, 3, 4]
                del y[:2]
                self.fc = nn.Linear(len(x), sum(y))
        """,
    )
    assert _keys(predict(path, "Net")) == {"fc.weight": (7, 3), "fc.bias": (7,)}
