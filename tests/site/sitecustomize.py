"""Imported at start-up by every Python process the tests start (tests/conftest.py puts this
folder on PYTHONPATH): torchvision 0.28's `_meta_registrations` does not import against this
torch build, and lightning, transformers and timm import torchvision when it is installed."""

import sys
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
