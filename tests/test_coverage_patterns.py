"""Library code patterns that left whole transformers models (or many of their keys) unknown
in the sweeps (issue 11, key coverage): each on a small hand-written model, with the exact keys
and shapes torch would give, and unknown -- never a guess -- where the value cannot be known."""

from __future__ import annotations

import ast
import copy
import textwrap
from pathlib import Path

import pytest

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


def test_the_class_of_an_instance_answers_hasattr_from_its_source(tmp_path: Path) -> None:
    # transformers' `PreTrainedConfig.to_dict`: `if hasattr(self.__class__, "model_type")`;
    # unknown, it left every value of the dict unknown and composite models lost their towers
    predicted = _predict(
        tmp_path,
        """
        import abc
        from dataclasses import dataclass
        import torch.nn as nn

        class Base:
            model_type = "base"

        @dataclass
        class Config(Base):
            width: int = 4

            def to_dict(self):
                out = {"width": self.width, "depth": 1}
                if hasattr(self.__class__, "model_type"):
                    out["depth"] = 2
                if hasattr(self.__class__, "not_there"):
                    out["depth"] = 100
                return out

        class WithMeta(metaclass=abc.ABCMeta):
            pass

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                values = Config().to_dict()
                self.fc = nn.Linear(values["width"], values["depth"])
                self.same = nn.Linear(2 if self.__class__ is Net else 3, 1)
                if hasattr(WithMeta().__class__, "extra"):  # a metaclass may provide it
                    self.extra = nn.Linear(1, 1)
        """,
    )
    assert _keys(predicted) == {"fc.weight": (2, 4), "fc.bias": (2,), "same.weight": (1, 2), "same.bias": (1,)}
    assert _unknown(predicted) == ["extra"]


AUTO_TOWER = """
import torch
from transformers import AutoModel, BertConfig

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        config = BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                            vocab_size=10, max_position_embeddings=4, type_vocab_size=1)
        sub = BertConfig(**config.to_dict())  # `to_dict` writes the class's `model_type` too
        sub.model_type = "gpt2"
        self.tower = AutoModel.from_config(sub)
"""


def test_auto_model_from_config_picks_the_class_by_the_config_class_not_its_model_type(tmp_path: Path) -> None:
    # transformers' VibeVoice: `EncoderConfig(**self.to_dict())` keeps the parent's `model_type`
    # as an instance attribute; `AutoModel.from_config` looks the model class up by the config's
    # class, as `_LazyAutoMapping[type(config)]` does
    import pytest

    pytest.importorskip("transformers")
    import torch

    predicted = _predict(tmp_path, AUTO_TOWER)
    scope: dict[str, object] = {}
    exec(compile(AUTO_TOWER, "tower", "exec"), scope)  # noqa: S102 - the test's own source
    with torch.device("meta"):
        real = scope["Net"]().state_dict()  # type: ignore[operator]
    assert _keys(predicted) == {k: tuple(v.shape) for k, v in real.items()}
    assert list(_keys(predicted))[0] == "tower.embeddings.word_embeddings.weight"
    assert _unknown(predicted) == []


def test_a_lookup_table_built_in_nested_loops_over_plain_values_sizes_a_parameter(tmp_path: Path) -> None:
    # transformers' LeViT: 196 x 196 points, one index per distinct offset; interpreted step by
    # step the loop spent the whole step budget and the whole model was unknown
    predicted = _predict(
        tmp_path,
        """
        import itertools
        import torch
        import torch.nn as nn

        class Attention(nn.Module):
            def __init__(self, heads, resolution):
                super().__init__()
                points = list(itertools.product(range(resolution), range(resolution)))
                offsets, indices = {}, []
                seen = indices  # another reference to the same list sees its items
                for p1 in points:
                    for p2 in points:
                        offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                        if offset not in offsets:
                            offsets[offset] = len(offsets)
                        indices.append(offsets[offset])
                self.biases = nn.Parameter(torch.zeros(heads, len(offsets)))
                self.idxs = nn.Buffer(torch.LongTensor(indices).view(len(points), len(points)))
                self.check = nn.Linear(len(seen) // len(points), max(indices) + 1)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([Attention(4, 14), Attention(8, 7)])
        """,
    )
    assert _keys(predicted) == {
        "blocks.0.biases": (4, 196), "blocks.0.idxs": (196, 196), "blocks.0.check.weight": (196, 196),
        "blocks.0.check.bias": (196,),
        "blocks.1.biases": (8, 49), "blocks.1.idxs": (49, 49), "blocks.1.check.weight": (49, 49),
        "blocks.1.check.bias": (49,),
    }
    assert _unknown(predicted) == []


FALLBACK_LOOPS = """
import torch.nn as nn

def width(i):
    return i + 1

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for i in range(10):
            layers.append(nn.Linear(i + 1, 1))
        self.layers = nn.Sequential(*layers)
        done = []
        for i in range(10):
            done.append(12 // (i - 3))
        self.partial = nn.Linear(len(done), 1)
        big = 3
        for _ in range(40):
            big = big * big
        self.huge = nn.Linear(big, 1)
        total = 0
        for i in range(10):
            total += width(i)
        self.summed = nn.Linear(total, 1)
"""


def test_loops_that_do_not_qualify_or_fail_are_interpreted_as_before(tmp_path: Path, monkeypatch) -> None:
    # a loop building modules, one that raises part-way (ZeroDivisionError), one whose numbers
    # grow past the size caps (unknown, never a hang), one calling a function of the module:
    # each gives what the interpreter alone gives
    import ckptlens.engine.interp.statements as interp

    native = _keys(_predict(tmp_path, FALLBACK_LOOPS))
    monkeypatch.setattr(interp, "NATIVE_MIN_ITEMS", 10**9)
    assert native == _keys(_predict(tmp_path, FALLBACK_LOOPS))
    assert [native[f"layers.{i}.weight"] for i in range(10)] == [(1, i + 1) for i in range(10)]
    assert native["huge.weight"] == (1, None)
    assert native["summed.weight"] == (1, 55)


def test_a_native_loop_never_walks_a_huge_range(tmp_path: Path) -> None:
    # `sum(range(10**12))` inside a qualifying loop: the loop is interpreted instead (the
    # interpreter's own caps make the value unknown), the analysis ends at once
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                total = 0
                for i in range(10):
                    total = total + sum(range(10**12)) + i
                self.fc = nn.Linear(4, 2)
                self.odd = nn.Linear(total, 1)
        """,
    )
    keys = _keys(predicted)
    assert keys["fc.weight"] == (2, 4)
    assert keys["odd.weight"] == (1, None)


def test_a_loop_needing_an_operation_outside_the_whitelist_is_interpreted(tmp_path: Path, monkeypatch) -> None:
    # `"-".join(...)`: a method the plain-loop evaluator does not take; the loop is interpreted,
    # with the value Python gives
    import ckptlens.engine.interp.statements as interp

    outcomes: list[tuple[str, bool]] = []
    real = interp.run_native_loop

    def spy(host, stmt, frame, items):  # type: ignore[no-untyped-def]
        ran = real(host, stmt, frame, items)
        outcomes.append((ast.unparse(stmt.iter), ran))
        return ran

    monkeypatch.setattr(interp, "run_native_loop", spy)
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                names = ["a", "bb", "ccc", "d", "ee", "f", "gg", "hhh"]
                width = 0
                for n in names:
                    width += len("-".join([n, n]))
                count = 0
                for n in list(names):
                    count = count + len(n)
                self.fc = nn.Linear(width, count)
        """,
    )
    assert outcomes == [("names", False), ("list(names)", True)]
    assert _keys(predicted) == {"fc.weight": (15, 38), "fc.bias": (15,)}


def _plain_loop(source: str):  # type: ignore[no-untyped-def]
    from ckptlens.engine import plain_loops
    from ckptlens.engine.plain_eval import Evaluation

    stmt = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(stmt, ast.For)
    return Evaluation, stmt, plain_loops._shape(stmt)


def test_the_plain_loop_evaluator_refuses_what_it_does_not_take() -> None:
    # `@` and an attribute that is not a listed method: not evaluated at all; a listed method
    # on a value that is not a list, dict, set, str or tuple: refused while evaluating
    import pytest

    assert _plain_loop("for x in xs:\n    y = x @ x")[2] is None
    assert _plain_loop("for x in xs:\n    y = x.real")[2] is None
    assert _plain_loop("for x in xs:\n    y = x.bit_length()")[2] is None
    evaluation, stmt, shape = _plain_loop("for x in xs:\n    n = x.count(1)")
    assert shape is not None
    with pytest.raises(TypeError, match="`count` of a int"):
        shape.run({}, evaluation([3, 4], float("inf")))
    _, _, shape = _plain_loop("for x in xs:\n    n = x.count(1)")
    env: dict[str, object] = {}
    shape.run(env, evaluation([[1, 1], (1, 2, 1)], float("inf")))
    assert env == {"x": (1, 2, 1), "n": 2}


EVALUATED_LOOPS = [
    """
    for i in items:
        if i % 3 == 0:
            continue
        if i > 20:
            break
        acc.append((i, i ** 2, -i, ~i, not i, i // 2, i / 4, i << 2, i >> 1, i & 3, i | 8, i ^ 5))
    else:
        acc.append("no break")
    """,
    """
    for i in items:
        table[i % 4] = table.get(i % 4, 0) + i
        pairs = [(a, b) for a in range(i % 3) for b in range(a, 3) if a != b]
        seen |= {p for p in pairs}
        index = {k: v for k, v in zip("abc", pairs)}
        acc.append((len(pairs), sum(x for x, _ in pairs), sorted(index), max([i, 3]), abs(-i)))
    """,
    """
    for n, i in items:
        a, (b, c) = i, divmod(i, 3)
        word = "x" * (i % 4) + str_part[1:i % 5:2]
        acc.append((n, a, b, c, word, word.startswith("x"), 1 < i <= 10, i in (1, 2) or i, i and None, [*acc[-1:], i]))
        acc[0] = acc[0] if n else ("first", i)
        acc[-1:] = [acc[-1]]
    """,
]


@pytest.mark.parametrize("source", EVALUATED_LOOPS)
def test_the_plain_loop_evaluator_gives_what_python_gives(source: str) -> None:
    # the top loop's items are the interpreter's (here: the numbers, or pairs of index and number)
    evaluation, stmt, shape = _plain_loop(source)
    assert shape is not None
    numbers = list(range(1, 40, 2))
    items = list(enumerate(numbers)) if isinstance(stmt.target, ast.Tuple) else numbers
    start = {"acc": [0], "table": {}, "seen": set(), "str_part": "abcdefgh"}
    expected: dict[str, object] = {**copy.deepcopy(start), "items": list(items)}
    exec(compile(textwrap.dedent(source), "loop", "exec"), expected)  # noqa: S102 - the test's own source
    got = copy.deepcopy(start)
    state = evaluation(list(items), float("inf"))
    shape.run(got, state)
    assert got == {k: v for k, v in expected.items() if k not in ("items", "__builtins__")}
    assert len(got["acc"]) > 5  # type: ignore[arg-type]
    assert state.count >= len(items) // 2


def test_property_setters_item_access_and_shallow_copies_of_config_objects(tmp_path: Path) -> None:
    # transformers' heterogeneous configs (Gemma 4): `config.per_layer_config = {...}` runs a
    # property setter that stores a spec; `config.per_layer_config[i]` is a view class's
    # `__getitem__` over `collections.abc.Sequence`, which takes `isinstance(i, slice)` and
    # returns `copy.copy(config)` with the layer's overrides set -- the original keeps its own
    predicted = _predict(
        tmp_path,
        """
        import copy
        from collections.abc import Sequence
        import torch.nn as nn

        class View(Sequence):
            def __init__(self, config):
                self._config = config

            def __len__(self):
                return self._config.layers

            def __getitem__(self, idx):
                if isinstance(idx, slice):
                    return [self[i] for i in range(*idx.indices(len(self)))]
                out = copy.copy(self._config)
                for key, value in self._config._spec.get(idx, {}).items():
                    setattr(out, key, value)
                return out

        class Config:
            def __init__(self):
                self.layers = 4
                self.head_dim = 8
                self.per_layer = {3: {"head_dim": 16}}

            @property
            def per_layer(self):
                return View(self)

            @per_layer.setter
            def per_layer(self, value):
                self._spec = {int(k): dict(v) for k, v in value.items()}

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                config = Config()
                self.layers = nn.ModuleList([nn.Linear(config.per_layer[i].head_dim, 1) for i in range(config.layers)])
                self.first_two = nn.Linear(len(config.per_layer[:2]), 1)
                self.global_dim = nn.Linear(config.head_dim, 1)
        """,
    )
    assert _keys(predicted) == {
        "layers.0.weight": (1, 8), "layers.0.bias": (1,), "layers.1.weight": (1, 8), "layers.1.bias": (1,),
        "layers.2.weight": (1, 8), "layers.2.bias": (1,), "layers.3.weight": (1, 16), "layers.3.bias": (1,),
        "first_two.weight": (1, 2), "first_two.bias": (1,), "global_dim.weight": (1, 8), "global_dim.bias": (1,),
    }
    assert _unknown(predicted) == []


def test_random_normal_where_comparisons_and_negation_keep_tensor_shapes(tmp_path: Path) -> None:
    # transformers' DiffLlama (`torch.normal(0, std, size=(head_dim,))`) and MiniMax (decay
    # tables: `-rate * r[:, None]`, `torch.where(d >= 0, -d, float("-inf"))`)
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lam = nn.Parameter(torch.normal(0, 0.1, size=(6,)))
                self.like = nn.Parameter(torch.normal(torch.zeros(2, 3), 1.0))
                rate = (0.5 ** (torch.arange(4) + 1))[:, None, None]
                steps = torch.arange(5) + 1
                self.decay = nn.Buffer(torch.exp(-rate * steps[:, None]))
                diagonal = rate * (steps[:, None] - steps[None, :])[None, None, :, :]
                self.diagonal = nn.Buffer(torch.where(diagonal >= 0, -diagonal, float("-inf")))
                self.mask = nn.Buffer(steps[:, None] > steps[None, :])
                self.picked = nn.Buffer(torch.where(self.mask, 1, 0))
        """,
    )
    tensors = {k: (t.shape, t.dtype) for k, t in predicted.tensors.items()}
    assert tensors == {
        "lam": ((6,), "float32"), "like": ((2, 3), "float32"), "decay": ((4, 5, 1), "float32"),
        "diagonal": ((1, 4, 5, 5), "float32"), "mask": ((5, 5), "bool"), "picked": ((5, 5), "int64"),
    }
    assert _unknown(predicted) == []


def test_where_of_shapes_that_cannot_broadcast_is_unknown_not_a_guess(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.odd = nn.Buffer(torch.where(torch.ones(3) > 0, torch.zeros(4), 1.0))
                self.open = nn.Buffer(torch.where(torch.ones(n, 2) > 0, torch.zeros(1, 2), 0.0))
        """,
    )
    assert _keys(predicted) == {"odd": (None,), "open": (None, 2)}


def test_a_model_subclass_s_config_annotation_wins_over_an_inherited_config_class(tmp_path: Path) -> None:
    # transformers' `PreTrainedModel.__init_subclass__`: `InklingTextModel` annotates
    # `config: InklingTextConfig` while its base sets `config_class = InklingConfig`
    predicted = _predict(
        tmp_path,
        """
        from dataclasses import dataclass
        import torch.nn as nn

        @dataclass
        class WholeConfig:
            width: int = 8

        @dataclass
        class TextConfig:
            width: int = 8
            attribute_map = {"short_width": "width"}

        class Base(nn.Module):
            config_class = WholeConfig

        class Net(Base):
            config: TextConfig

            def __init__(self, config):
                super().__init__()
                self.fc = nn.Linear(config.short_width, 1)
        """,
        config={"width": 5},
    )
    assert _keys(predicted) == {"fc.weight": (1, 5), "fc.bias": (1,)}
    assert _unknown(predicted) == []


def test_a_table_loop_too_long_to_run_leaves_only_its_values_unknown(tmp_path: Path) -> None:
    # timm's TinyViT at 512 px: 1024 x 1024 points; interpreted it spent the whole step budget
    # and the whole model was unknown -- now only what the loop computes is
    predicted = _predict(
        tmp_path,
        """
        import itertools
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, resolution=40):
                super().__init__()
                points = list(itertools.product(range(resolution), range(resolution)))
                offsets, idxs = {}, []
                seen = offsets
                for p1 in points:
                    for p2 in points:
                        offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                        if offset not in offsets:
                            offsets[offset] = len(offsets)
                        idxs.append(offsets[offset])
                self.biases = nn.Parameter(torch.zeros(4, len(offsets)))
                self.seen = nn.Parameter(torch.zeros(len(seen)))
                self.table = nn.Parameter(torch.zeros(len(idxs)))
                self.proj = nn.Linear(len(points), 2)
        """,
    )
    assert _keys(predicted) == {
        "biases": (4, None), "seen": None, "table": None, "proj.weight": (2, 1600), "proj.bias": (2,),
    }
    assert _unknown(predicted) == []


def test_hasattr_on_a_class_given_attributes_from_outside_its_body_is_unknown(tmp_path: Path) -> None:
    predicted = _predict(
        tmp_path,
        """
        import torch.nn as nn

        class Patched:
            pass

        class Set:
            pass

        Patched.extra = 3
        setattr(Set, "other", 4)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                if hasattr(Patched, "extra"):
                    self.a = nn.Linear(1, 1)
                if hasattr(Set, "other"):
                    self.b = nn.Linear(1, 1)
                if hasattr(Patched, "missing"):
                    self.c = nn.Linear(1, 1)
        """,
    )
    assert _keys(predicted) == {}
    assert _unknown(predicted) == ["a", "b"]


def test_a_dict_filled_on_one_side_of_an_unknown_branch_is_unknown_as_a_whole(tmp_path: Path) -> None:
    # `offsets` gains a key only when the unknown flag holds: `len(offsets)` is 1 or 2, so the
    # width that depends on it is unknown (it was 2 -- a guess -- before); a dict both sides
    # fill alike stays known
    predicted = _predict(
        tmp_path,
        """
        from torch import nn

        class Net(nn.Module):
            def __init__(self, flag):
                super().__init__()
                offsets = {"a": 0}
                same = {"a": 0}
                if flag:
                    offsets["b"] = 1
                    same["a"] = 0
                self.by_offsets = nn.Linear(4, len(offsets))
                self.by_same = nn.Linear(4, len(same))
        """,
    )
    keys = _keys(predicted)
    assert keys["by_offsets.weight"] == (None, 4) and keys["by_offsets.bias"] == (None,)
    assert keys["by_same.weight"] == (1, 4) and keys["by_same.bias"] == (1,)
