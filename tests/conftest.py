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

# No test reaches the internet: hub ids not in the local cache are not looked up on the Hub
# (they stay `hub-not-cached`), and remote reads use a cache of the test run's own. The remote
# tests (tests/test_remote*.py) turn this off and point HF_ENDPOINT at a local stand-in.
os.environ.setdefault("CKPTLENS_REMOTE_OFFLINE", "1")
# ckptlens's own disk caches (the CLI's result cache, the loader's indexes): the run's own
# folder, so no answer kept by an earlier run or by the user's ckptlens is ever reused here.
if "CKPTLENS_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["CKPTLENS_CACHE_DIR"] = tempfile.mkdtemp(prefix="ckptlens-cache-")
if "CKPTLENS_REMOTE_CACHE" not in os.environ:
    import tempfile

    os.environ["CKPTLENS_REMOTE_CACHE"] = tempfile.mkdtemp(prefix="ckptlens-remote-cache-")
