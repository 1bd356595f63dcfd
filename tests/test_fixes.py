"""The quick fixes' edits, on inline sources: rename, shape literals, the key mapping."""

from __future__ import annotations

import textwrap

import pytest

from ckptlens.engine.mapping_code import ParsedMapping, render_python
from ckptlens.findings import SourceRange
from ckptlens.fixes.edits import apply_edits
from ckptlens.fixes.mapping import free_function_name, mapping_at_load_site, mapping_in_class
from ckptlens.fixes.rename import rename_fix, rename_names
from ckptlens.fixes.shape import DimChange, shape_fix
from ckptlens.workspace.scan import scan_source

PATH = "/w/model.py"


def at(source: str, needle: str, occurrence: int = 0) -> SourceRange:
    """The range of the `occurrence`-th `needle` in `source` (1-based lines, 0-based columns)."""
    index = -1
    for _ in range(occurrence + 1):
        index = source.index(needle, index + 1)
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1)
    return SourceRange(PATH, line, col, line, col + len(needle))


# -- rename -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "checkpoint", "expected"),
    [
        ("layer_1", "layer1", ("layer_1", "layer1")),
        ("encoder.layer_1", "encoder.layer1", ("layer_1", "layer1")),
        ("encoder.fc", "enc.fc", ("encoder", "enc")),
        ("blocks.0", "blocks.1", None),  # an index, not an attribute
        ("a.b", "c.d", None),  # two names differ
        ("fc", "class", None),  # a keyword
        (None, "fc", None),
    ],
)
def test_rename_names(model: str | None, checkpoint: str, expected: tuple[str, str] | None) -> None:
    assert rename_names(model, checkpoint) == expected


RENAME_SOURCE = textwrap.dedent(
    """\
    class Other(nn.Module):
        def __init__(self):
            self.layer_1 = nn.Linear(2, 2)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer_1 = nn.Linear(8, 16)

        def forward(self, x):
            helper = lambda self: self.layer_1  # another `self`: left alone
            return self.layer_1(x)

        def copy(me, other):
            me.layer_1.load_state_dict(other.layer_1.state_dict())

        class Inner:
            def f(self):
                return self.layer_1
    """
)


def test_rename_edits_every_self_use_in_the_class_only() -> None:
    target = at(RENAME_SOURCE, "self.layer_1", 1)
    fix = rename_fix(RENAME_SOURCE, PATH, target, "layer_1", "layer1")
    assert fix is not None
    assert fix.title == "Rename `self.layer_1` to `self.layer1` (as in the checkpoint)"
    renamed = apply_edits(RENAME_SOURCE, fix.edits)
    assert (
        renamed.count("self.layer1") == 2 and "me.layer1.load_state_dict(other.layer_1" in renamed
    )
    assert "helper = lambda self: self.layer_1" in renamed  # a lambda's own `self`
    assert renamed.splitlines()[2] == "        self.layer_1 = nn.Linear(2, 2)"  # another class
    assert renamed.splitlines()[-1] == "            return self.layer_1"  # a nested class


def test_rename_declines_when_the_new_name_exists_or_the_range_is_elsewhere() -> None:
    source = RENAME_SOURCE.replace("super().__init__()", "self.layer1 = None")
    assert rename_fix(source, PATH, at(source, "self.layer_1", 1), "layer_1", "layer1") is None
    assert (
        rename_fix(RENAME_SOURCE, PATH, at(RENAME_SOURCE, "super()"), "layer_1", "layer1") is None
    )


def test_rename_in_an_indented_class_and_with_non_ascii() -> None:
    source = 'if True:\n    class Net(nn.Module):\n        def __init__(self):\n            x = "é😋"; self.enc = nn.Linear(2, 2)\n'
    fix = rename_fix(source, PATH, at(source, "self.enc"), "enc", "encoder")
    assert fix is not None
    ((where, text),) = fix.edits
    assert (where.start_line, where.start_col, text) == (4, 27, "encoder")  # characters, not bytes
    assert apply_edits(source, fix.edits).endswith("self.encoder = nn.Linear(2, 2)\n")


# -- shape ------------------------------------------------------------------------------------------


def shape(source: str, target: str, changes: list[DimChange], **kwargs) -> str | None:
    fix = shape_fix(
        source, PATH, at(source, target), changes, root_class=kwargs.pop("root", "Net"), **kwargs
    )
    return None if fix is None else apply_edits(source, fix.edits)


CLASS = "class Net(nn.Module):\n    def __init__(self, hidden: int = 30, depth=2):\n        super().__init__()\n"


def test_linear_literal_out_and_in_features() -> None:
    source = CLASS + "        self.fc = nn.Linear(10, 30)\n"
    change = DimChange("weight", (20, 12), (30, 10))
    assert (
        shape(source, "self.fc", [change, DimChange("bias", (20,), (30,))])
        == CLASS + "        self.fc = nn.Linear(12, 20)\n"
    )


def test_keyword_arguments_and_other_layers() -> None:
    source = (
        CLASS
        + "        self.conv = torch.nn.Conv2d(3, out_channels=8, kernel_size=3)\n        self.bn = nn.BatchNorm2d(8)\n"
    )
    fixed = shape(source, "self.conv", [DimChange("weight", (16, 3, 3, 3), (8, 3, 3, 3))])
    assert fixed is not None and "Conv2d(3, out_channels=16, kernel_size=3)" in fixed
    fixed = shape(
        source,
        "self.bn",
        [DimChange(name, (16,), (8,)) for name in ("weight", "bias", "running_mean")],
    )
    assert fixed is not None and "nn.BatchNorm2d(16)" in fixed


def test_grouped_conv_input_dim_is_not_an_argument() -> None:
    source = CLASS + "        self.conv = nn.Conv2d(8, 8, 3, groups=4)\n"
    assert shape(source, "self.conv", [DimChange("weight", (8, 4, 3, 3), (8, 2, 3, 3))]) is None


def test_default_of_the_root_class_unless_it_is_given() -> None:
    source = CLASS + "        self.fc = nn.Linear(10, hidden)\n"
    change = [DimChange("weight", (20, 10), (30, 10))]
    fixed = shape(source, "self.fc", change)
    assert fixed is not None and "hidden: int = 20" in fixed
    assert shape(source, "self.fc", change, given={"hidden"}) is None
    assert shape(source, "self.fc", change, root="Wrapper") is None  # Net is built by another class


def test_local_variable_and_module_constant() -> None:
    source = (
        "WIDTH = 30\n\n" + CLASS + "        inner = 64\n        self.a = nn.Linear(inner, WIDTH)\n"
    )
    fixed = shape(source, "self.a", [DimChange("weight", (20, 32), (30, 64))])
    assert fixed is not None and fixed.startswith("WIDTH = 20\n") and "inner = 32" in fixed


def test_sequential_index_and_conflicts() -> None:
    source = CLASS + "        self.head = nn.Sequential(nn.ReLU(), nn.Linear(30, 5))\n"
    fixed = shape(
        source,
        "self.head",
        [DimChange("1.weight", (7, 30), (5, 30)), DimChange("1.bias", (7,), (5,))],
    )
    assert fixed is not None and "nn.Linear(30, 7)" in fixed
    conflicting = [DimChange("1.weight", (7, 30), (5, 30)), DimChange("1.bias", (6,), (5,))]
    assert shape(source, "self.head", conflicting) is None


def test_computed_dims_are_left_alone() -> None:
    source = CLASS + "        self.fc = nn.Linear(10, hidden * 2)\n"
    assert shape(source, "self.fc", [DimChange("weight", (20, 10), (60, 10))]) is None
    source = CLASS + "        self.rnn = nn.LSTM(10, 30)\n"
    assert shape(source, "self.rnn", [DimChange("weight_ih_l0", (80, 10), (120, 10))]) is None


# -- key mapping ------------------------------------------------------------------------------------

PLAN = ParsedMapping(
    strip_prefix="module.", renames=(("features.", "encoder."),), drop_prefixes=("module.aux.",)
)

SCRIPT = textwrap.dedent(
    """\
    import torch

    from models import Net


    # The entry point.
    def main():
        net = Net()
        net.load_state_dict(torch.load("x.pt"))
    """
)


def test_mapping_at_the_load_site_round_trip() -> None:
    text = render_python(PLAN, "remap_state_dict")
    state_arg = at(SCRIPT, 'torch.load("x.pt")')
    fix = mapping_at_load_site(SCRIPT, PATH, state_arg, text, "remap_state_dict")
    assert fix is not None
    edited = apply_edits(SCRIPT, fix.edits)
    assert edited.index("def remap_state_dict") < edited.index("# The entry point.")
    assert 'net.load_state_dict(remap_state_dict(torch.load("x.pt")))' in edited
    (site,) = scan_source(PATH, edited).sites
    assert site.site_mapping is not None and site.site_mapping.renames == PLAN.renames

    # Generating again replaces the function and leaves the call as it is.
    newer = render_python(ParsedMapping(strip_prefix="_orig_mod."), "remap_state_dict")
    again = mapping_at_load_site(
        edited, PATH, at(edited, 'remap_state_dict(torch.load("x.pt"))'), newer, "remap_state_dict"
    )
    assert again is not None
    twice = apply_edits(edited, again.edits)
    assert twice.count("def remap_state_dict") == 1 and 'STRIP_PREFIX = "_orig_mod."' in twice
    assert 'net.load_state_dict(remap_state_dict(torch.load("x.pt")))' in twice


def test_free_function_name() -> None:
    assert free_function_name(SCRIPT, "remap_state_dict", "SeqNet") == "remap_state_dict"
    taken = SCRIPT + "\ndef remap_state_dict(x):\n    return x\n"
    assert free_function_name(taken, "remap_state_dict", "SeqNet") == "remap_seq_net_state_dict"
    assert (
        free_function_name(taken, "remap_state_dict", "SeqNet", generated={"remap_state_dict"})
        == "remap_state_dict"
    )


MODEL = textwrap.dedent(
    """\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(4, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.encoder(x))"""  # no newline at the end of the file
)


def test_mapping_in_the_class_loads_with_torch() -> None:
    torch = pytest.importorskip("torch")
    plan = ParsedMapping(
        strip_prefix="module.", renames=(("features.", "encoder."),), drop=("module.aux",)
    )
    method = render_python(plan, "remap_state_dict", class_name="Net", indent="    ")
    fix = mapping_in_class(MODEL, PATH, "Net", 5, method, "remap_state_dict")
    assert fix is not None
    edited = apply_edits(MODEL, fix.edits)
    assert "        self.register_load_state_dict_pre_hook(self._remap_state_dict_hook)\n" in edited
    decl = scan_source(PATH, edited).classes["Net"]
    assert decl.mapping is not None and decl.mapping.strip_prefix == "module."

    namespace: dict = {}
    exec(compile(edited, PATH, "exec"), namespace)
    net = namespace["Net"]()
    saved = {"module." + k.replace("encoder.", "features."): v for k, v in net.state_dict().items()}
    saved["module.aux"] = torch.zeros(1)
    result = net.load_state_dict(saved)
    assert not result.missing_keys and not result.unexpected_keys

    # Generating again replaces the method, keeps one hook.
    again = mapping_in_class(
        edited,
        PATH,
        "Net",
        5,
        render_python(ParsedMapping(), "remap_state_dict", indent="    "),
        "remap_state_dict",
    )
    assert again is not None
    twice = apply_edits(edited, again.edits)
    assert (
        twice.count("def remap_state_dict") == 1
        and twice.count("register_load_state_dict_pre_hook") == 1
    )


def test_mapping_in_a_class_without_init_is_declined() -> None:
    source = "class Net(nn.Module):\n    x = 1\n"
    assert (
        mapping_in_class(
            source,
            PATH,
            "Net",
            1,
            "    def remap_state_dict(state_dict):\n        return state_dict\n",
            "remap_state_dict",
        )
        is None
    )
