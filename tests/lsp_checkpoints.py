"""Builds the checkpoints of the LSP fixture workspace (`tests/lsp_project`) with torch.

Each checkpoint is made from the fixture's own model classes (imported from the copy), with
the mismatch the tests expect: a renamed attribute, a different width, a DataParallel prefix
plus a rename plus extra keys, a corrupt file, a pickle naming `os.system`, CUDA location tags.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).parent / "lsp_project"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_project(target: Path) -> Path:
    shutil.copytree(PROJECT, target, dirs_exist_ok=True)
    return target


class Evil:
    """Pickles as a call to os.system: what a malicious checkpoint does on torch.load."""

    def __reduce__(self):  # noqa: D105
        return (os.system, ("echo owned",))


def build_checkpoints(root: Path) -> None:
    import torch

    torch.manual_seed(0)
    ckpts = root / "ckpts"
    ckpts.mkdir(exist_ok=True)
    models = root / "models"
    directive = load_module(models / "directive_net.py", "lsp_fixture_directive")
    tabular = load_module(models / "tabular.py", "lsp_fixture_tabular")
    seqnet = load_module(models / "seqnet.py", "lsp_fixture_seqnet")

    state = directive.DirectiveNet().state_dict()
    torch.save(
        {k.replace("layer_1.", "layer1."): v for k, v in state.items()}, ckpts / "directive.pt"
    )

    wide = tabular.WideNet(hidden=20).state_dict()
    torch.save({"fc.weight": wide["fc.weight"], "fc.bias": wide["fc.bias"]}, ckpts / "tabular.pt")
    torch.save(wide, ckpts / "wide.pt")

    seq = seqnet.SeqNet(num_classes=7).state_dict()
    wrapped = {"module." + k.replace("encoder.", "features."): v for k, v in seq.items()}
    wrapped["module.aux.weight"] = torch.zeros(2, 8)
    wrapped["module.aux.bias"] = torch.zeros(2)
    torch.save(wrapped, ckpts / "seq.pt")
    torch.save(
        {"state_dict": seq, "hyper_parameters": {"num_classes": 7}, "epoch": 3},
        ckpts / "seq_lightning.ckpt",
    )
    torch.save({"totally.different": torch.zeros(3)}, ckpts / "other.pt")
    save_as_cuda(seqnet.SeqNet().state_dict(), ckpts / "seq_cuda.pt")

    (ckpts / "corrupt.pt").write_bytes(b"PK\x03\x04" + os.urandom(64))
    torch.save(
        {"state_dict": {"fc.weight": torch.zeros(4, 4)}, "payload": Evil()}, ckpts / "evil.pt"
    )
    for name in ("lsp_fixture_directive", "lsp_fixture_tabular", "lsp_fixture_seqnet"):
        sys.modules.pop(name, None)


def save_as_cuda(state: dict, path: Path) -> None:
    """torch.save with every storage tagged `cuda:0`, as a GPU machine writes it."""
    import torch
    import torch.serialization as serialization

    def tag(obj: object) -> str | None:
        return (
            "cuda:0"
            if isinstance(obj, torch.storage.UntypedStorage | torch.storage.TypedStorage)
            else None
        )

    serialization.register_package(-100, tag, lambda obj, location: None)
    try:
        torch.save(state, path)
    finally:
        serialization._package_registry[:] = [
            entry for entry in serialization._package_registry if entry[1] is not tag
        ]


def build_project(target: Path) -> Path:
    copy_project(target)
    build_checkpoints(target)
    return target


SECOND_NETS = '''import torch
from torch import nn


class SecondNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)


class ThirdNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)
'''

SECOND_RUN = '''import torch

from nets import ThirdNet

net = ThirdNet()
net.load_state_dict(torch.load("ckpts/third.pt"))
'''

SECOND_PYPROJECT = '''[[tool.ckptlens.link]]
class = "nets.py:SecondNet"
checkpoint = "ckpts/second.pt"
'''


def build_second_folder(target: Path) -> Path:
    """A second workspace folder: `SecondNet` linked by its own pyproject.toml to a checkpoint
    whose `stem` is called `trunk`, `ThirdNet` linked by a load call in `run.py` to one whose
    `fc` has 5 outputs instead of 3."""
    import torch

    torch.manual_seed(1)
    (target / "ckpts").mkdir(parents=True, exist_ok=True)
    (target / "nets.py").write_text(SECOND_NETS)
    (target / "run.py").write_text(SECOND_RUN)
    (target / "pyproject.toml").write_text(SECOND_PYPROJECT)
    stem, head, fc = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2), torch.nn.Linear(6, 5)
    second = {f"trunk.{k}": v for k, v in stem.state_dict().items()}
    second |= {f"head.{k}": v for k, v in head.state_dict().items()}
    torch.save(second, target / "ckpts" / "second.pt")
    torch.save({f"fc.{k}": v for k, v in fc.state_dict().items()}, target / "ckpts" / "third.pt")
    return target
