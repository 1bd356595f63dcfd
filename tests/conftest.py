"""Shared test set-up."""

import os
import sys
import types
from pathlib import Path

# torchvision 0.28's `_meta_registrations` does not import against this torch build and no
# model needs it: stub it before anything imports torchvision (the sweep's worker processes do
# the same, tests/sweep/targets.py) ...
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

# ... and in every Python process the tests start (the CLI, the language server, the scripts
# that write Lightning checkpoints or run saved files with torch): `tests/site/sitecustomize.py`
_SITE = str(Path(__file__).parent / "site")
if _SITE not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SITE, os.environ.get("PYTHONPATH")) if p)
