"""The analysis is charged by cost, not only by steps (issue: hostile inputs): arithmetic and
string operations that would build huge values give unknown values at once, and a class with
hundreds of bases is not linearised. Run in a subprocess under a memory cap: the assertion is
that it answers at all, with the model around the hostile lines still predicted."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ckptlens.api import predict

MEMORY_CAP = 1 << 30  # address space of the analysing process: far below what the payloads need


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


HOSTILE = {
    "squaring": "n = 3\nfor _ in range(40):\n    n = n * n",
    "chained powers": "a = 10 ** 64\nb = a ** 64\nc = b ** 64\nd = c ** 64",
    "format width": "s = '%0999999999d' % 1",
    "zfill": "s = '7'.zfill(999999999)",
    "format builtin": "s = format(1, '0999999999d')",
    "str.format": "s = '{:0999999999}'.format(1)",
    "prod": "p = math.prod([10 ** 60] * 100000)",
    "shift": "n = 1 << (1 << 40)",
    "repeat": "s = 'ab' * (10 ** 9)",
}


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_costly_values_become_unknown_within_bounds(tmp_path: Path, body: str) -> None:
    source = tmp_path / "model.py"
    source.write_text(
        "import math\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n" + textwrap.indent(body, " " * 8) + "\n        self.fc = nn.Linear(2, 3)\n"
    )
    code = (
        "import json, sys; from ckptlens.api import predict; "
        "p = predict(sys.argv[1], 'Net'); "
        "print(json.dumps({k: t.shape for k, t in p.tensors.items()}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(source)],
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard only
        preexec_fn=_limit,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == {"fc.weight": [3, 2], "fc.bias": [3]}


def test_many_bases_are_not_linearised(tmp_path: Path) -> None:
    lines = ["import torch.nn as nn", "class Base0: pass"]
    lines += [f"class Base{i}(Base{i - 1}): pass" for i in range(1, 400)]
    lines += ["class Many(" + ", ".join(f"Base{i}" for i in range(399, -1, -1)) + "):", "    pass"]
    lines += [
        "class Net(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        "        self.many = Many()",
        "        self.fc = nn.Linear(2, 3)",
    ]
    source = tmp_path / "model.py"
    source.write_text("\n".join(lines) + "\n")
    predicted = predict(source, "Net")
    assert {k: t.shape for k, t in predicted.tensors.items()} == {"fc.weight": (3, 2), "fc.bias": (3,)}


def test_ordinary_arithmetic_and_formatting_still_known(tmp_path: Path) -> None:
    source = tmp_path / "model.py"
    source.write_text(
        textwrap.dedent(
            """
            import math
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    width = int("%03d" % 64) + int("7".zfill(3)) + 2 ** 10 // 1024 + (1 << 4)
                    name = "{:>5}".format("fc").strip()
                    dims = [math.prod([2, 3, 4]), max(range(1000))]
                    setattr(self, name, nn.Linear(width, dims[0]))
            """
        )
    )
    predicted = predict(source, "Net")
    assert {k: t.shape for k, t in predicted.tensors.items()} == {"fc.weight": (24, 88), "fc.bias": (24,)}
