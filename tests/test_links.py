"""How classes are linked to checkpoints: directives, pyproject.toml / the setting, load calls."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from ckptlens.engine.loader import Loader
from ckptlens.engine.mapping_code import ParsedMapping, render_python
from ckptlens.links import (
    DIRECTIVE,
    FROM_PRETRAINED,
    LOAD_FROM_CHECKPOINT,
    LOAD_STATE_DICT,
    PYPROJECT,
    SETTING,
    WorkspaceIndex,
    links_from_tables,
    parse_directive,
    resolve_path,
    scan_source,
)


def scan(source: str, path: str = "/w/model.py"):
    return scan_source(path, textwrap.dedent(source))


# -- directives ---------------------------------------------------------------------------------


def test_parse_directive_fields_and_init() -> None:
    fields, init = parse_directive(
        " checkpoint=ck/net.pt config='cfg one.json' init:hidden=64 init:act=gelu init:dims=\"[2, 2]\""
    )
    assert fields["checkpoint"][0] == "ck/net.pt"
    assert fields["config"][0] == "cfg one.json"
    assert init == {"hidden": 64, "act": "gelu", "dims": [2, 2]}  # a value with spaces is quoted


def test_directive_above_class_with_decorators_and_in_body() -> None:
    found = scan(
        """\
        import torch

        # ckptlens: checkpoint=a.pt init:hidden=8
        @some.decorator
        class A(torch.nn.Module):
            pass


        class B(torch.nn.Module):
            # ckptlens: checkpoint="b dir/b.pt" config=b.json
            x = 1

        # ckptlens: checkpoint=orphan.pt

        x = 1
        class C(torch.nn.Module):
            pass
        """
    )
    by_class = {link.class_name: link for link in found.directives}
    assert set(by_class) == {"A", "B"}
    a = by_class["A"]
    assert a.kind == DIRECTIVE and a.checkpoint == "a.pt" and a.init == (("hidden", 8),)
    assert a.search_dirs == ("/w",)
    assert a.path_range is not None and (
        a.path_range.start_line,
        a.path_range.start_col,
        a.path_range.end_col,
    ) == (3, 23, 27)
    b = by_class["B"]
    assert b.checkpoint == "b dir/b.pt" and b.config == "b.json"
    assert b.path_range is not None and (b.path_range.start_line, b.path_range.start_col) == (
        10,
        28,
    )


# -- load calls -----------------------------------------------------------------------------------


def test_load_from_checkpoint_and_from_pretrained() -> None:
    found = scan(
        """\
        from models import Net

        model = Net.load_from_checkpoint("runs/last.ckpt", num_classes=7, map_location="cpu", strict=False)
        other = Net.from_pretrained("acme/net-tiny")
        ignored = net_factory.load_from_checkpoint("x.ckpt")
        """
    )
    lightning, hub = found.sites
    assert lightning.kind == LOAD_FROM_CHECKPOINT and lightning.class_ref == ("Net",)
    assert lightning.checkpoint == "runs/last.ckpt" and lightning.init == (("num_classes", 7),)
    assert lightning.strict_false and lightning.map_location is True
    assert (
        lightning.path_range.start_line,
        lightning.path_range.start_col,
        lightning.path_range.end_col,
    ) == (3, 33, 49)
    assert (
        hub.kind == FROM_PRETRAINED
        and hub.checkpoint == "acme/net-tiny"
        and hub.map_location is None
    )


def test_instance_then_load_state_dict_in_same_scope() -> None:
    found = scan(
        """\
        import torch as T
        from safetensors.torch import load_file
        from pathlib import Path
        from .net import Net

        CKPT = "ckpts/net.pt"

        def main(device):
            net = Net(3, hidden=64, act=make_act()).to(device).eval()
            net.load_state_dict(T.load(CKPT, map_location=device), strict=False)

        def from_dict():
            net = Net()
            state = T.load(Path("ckpts/wrapped.ckpt"))["state_dict"]
            net.load_state_dict(state)

        def safetensors():
            net = Net()
            net.load_state_dict(load_file("ckpts/net.safetensors"))

        def not_a_site(model):
            model.load_state_dict(T.load("x.pt"))
            net = Net()
            net.load_state_dict(json.load(open("x.json")))
        """
    )
    main, from_dict, safetensors = found.sites
    assert main.kind == LOAD_STATE_DICT and main.class_ref == ("Net",)
    assert main.checkpoint == "ckpts/net.pt"
    assert main.init == (("hidden", 64),) and main.init_positional == ((0, 3),)
    assert main.strict_false and main.map_location is True
    # The diagnostic goes on the name at the call, the document link on the literal.
    assert (main.path_range.start_line, main.path_range.start_col, main.path_range.end_col) == (
        10,
        31,
        35,
    )
    assert (main.literal_range.start_line, main.literal_range.start_col) == (6, 7)
    assert main.state_arg_range is not None and main.state_arg_range.start_col == 24
    assert (
        from_dict.checkpoint == "ckpts/wrapped.ckpt"
        and not from_dict.strict_false
        and from_dict.map_location is False
    )
    assert safetensors.checkpoint == "ckpts/net.safetensors" and safetensors.map_location is None


def test_generated_mapping_is_recognised_at_the_site_and_in_the_class() -> None:
    plan = ParsedMapping(
        strip_prefix="module.", renames=(("features.", "encoder."),), drop=("aux.weight",)
    )
    function = render_python(plan, "remap_state_dict")
    method = render_python(plan, "remap_state_dict", indent="    ")
    source = (
        "import torch\n\n"
        + function
        + "\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.register_load_state_dict_pre_hook(self._remap_state_dict_hook)\n\n"
        "    @staticmethod\n" + method + "\n\n"
        "def main():\n    net = Net()\n    net.load_state_dict(remap_state_dict(torch.load('x.pt')))\n"
    )
    found = scan_source("/w/m.py", source)
    (site,) = found.sites
    assert site.site_mapping is not None and site.site_mapping.strip_prefix == "module."
    assert site.site_mapping.renames == (("features.", "encoder."),)
    decl = found.classes["Net"]
    assert decl.has_hook and decl.mapping is not None and decl.mapping.drop == ("aux.weight",)


def test_a_class_without_the_hook_has_no_mapping() -> None:
    method = render_python(ParsedMapping(strip_prefix="module."), "remap_state_dict", indent="    ")
    found = scan_source("/w/m.py", "class Net(nn.Module):\n    @staticmethod\n" + method)
    assert found.classes["Net"].mapping is None


def test_syntax_error_gives_an_empty_scan() -> None:
    assert not scan_source("/w/m.py", "class (:\n").ok


# -- pyproject.toml and the setting ---------------------------------------------------------------


def test_tables_with_problems() -> None:
    links, problems = links_from_tables(
        [
            {"class": "models/net.py:Net", "checkpoint": "ckpts/net.pt", "init": {"hidden": 32}},
            {"class": "pkg.models:Other", "checkpoint": "o.pt"},
            {"class": "models/net.py", "checkpoint": "x.pt"},
            "nonsense",
        ],
        "/w",
        kind=SETTING,
        origin="settings",
    )
    assert [(link.class_file, link.class_name, link.init) for link in links] == [
        ("/w/models/net.py", "Net", (("hidden", 32),)),
        ("/w/pkg/models.py", "Other", ()),
    ]
    assert len(problems) == 2


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_workspace_links_across_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[[tool.ckptlens.link]]\nclass = "pkg/net.py:Net"\ncheckpoint = "ckpts/net.pt"\n'
            '[[tool.ckptlens.link]]\nclass = "pkg/net.py:Missing"\ncheckpoint = "x.pt"\n',
            "pkg/__init__.py": "from .net import Net\n",
            "pkg/net.py": "from torch import nn\n\nclass Net(nn.Module):\n    pass\n",
            "train.py": """\
                import torch
                from pkg import Net
                from torchvision.models import ResNet

                def main():
                    net = Net()
                    net.load_state_dict(torch.load("ckpts/net.pt"))
                    other = ResNet()
                    other.load_state_dict(torch.load("ckpts/resnet.pt"))
                """,
            ".venv/lib/site.py": "net = Net()\nnet.load_state_dict(torch.load('x.pt'))\n",
        },
    )
    root = str(tmp_path)
    index = WorkspaceIndex([root], Loader([root], use_sys_path=False).find_module)
    links, problems = index.links({}, [{"class": "pkg/net.py:Net", "checkpoint": "ckpts/other.pt"}])
    assert sorted(
        (link.kind, os.path.relpath(link.class_file, root), link.checkpoint) for link in links
    ) == [
        (LOAD_STATE_DICT, "pkg/net.py", "ckpts/net.pt"),
        (PYPROJECT, "pkg/net.py", "ckpts/net.pt"),
        (SETTING, "pkg/net.py", "ckpts/other.pt"),
    ]
    site = next(link for link in links if link.kind == LOAD_STATE_DICT)
    assert site.site_file == str(tmp_path / "train.py")
    assert site.search_dirs == (root,)
    assert site.class_range is not None and site.class_range.start_line == 3
    assert problems == [
        f"{tmp_path / 'pyproject.toml'}: no class `Missing` in {tmp_path / 'pkg/net.py'}"
    ]


def test_unsaved_buffers_win_over_the_disk(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "class Net:\n    pass\n"})
    index = WorkspaceIndex([str(tmp_path)], Loader([str(tmp_path)], use_sys_path=False).find_module)
    path = str(tmp_path / "m.py")
    overlay = "# ckptlens: checkpoint=n.pt\nclass Net:\n    pass\n"
    assert [link.checkpoint for link in index.links({path: overlay})[0]] == ["n.pt"]
    # While the buffer does not parse, the last good scan stands.
    broken = index.scan(path, {path: overlay + "def (:\n"})
    assert broken.stale and [link.checkpoint for link in broken.directives] == ["n.pt"]


# -- checkpoints ----------------------------------------------------------------------------------


def test_relative_paths_tried_in_order(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "net.pt").write_bytes(b"")
    found = resolve_path("net.pt", [str(tmp_path / "a"), str(tmp_path / "b")])
    assert found.path == str(tmp_path / "b" / "net.pt")
    assert found.tried == (str(tmp_path / "a" / "net.pt"), str(tmp_path / "b" / "net.pt"))
    missing = resolve_path("nope.pt", [str(tmp_path / "a")])
    assert missing.path is None and missing.hub_id is None


@pytest.mark.parametrize("with_ref", [True, False])
def test_hub_ids_in_the_local_cache(tmp_path: Path, with_ref: bool) -> None:
    snapshot = tmp_path / "models--acme--net-tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    if with_ref:
        (tmp_path / "models--acme--net-tiny" / "refs").mkdir()
        (tmp_path / "models--acme--net-tiny" / "refs" / "main").write_text("abc123\n")
    found = resolve_path("acme/net-tiny", [str(tmp_path / "w")], hub=True, hf_cache=str(tmp_path))
    assert found.path == str(snapshot)
    absent = resolve_path("acme/other", [str(tmp_path / "w")], hub=True, hf_cache=str(tmp_path))
    # not cached: read from the Hub by ranges (issue 16), still named by its hub id
    assert absent.path == "hf://acme/other" and absent.hub_id == "acme/other"
    assert (
        resolve_path("acme/net-tiny.pt", [str(tmp_path)], hub=True, hf_cache=str(tmp_path)).hub_id
        is None
    )
