"""Shared test set-up."""

import sys
import types

# torchvision 0.28's `_meta_registrations` does not import against this torch build and no
# model needs it: stub it before anything imports torchvision (the sweep's worker processes do
# the same, tests/sweep/targets.py).
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
