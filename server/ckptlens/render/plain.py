"""Values made JSON-ready for the reports (`inspect`, the constructor values of `check`/`keys`)."""

from __future__ import annotations

import math
import sys
from typing import Any

MAX_DEPTH = 64


def plain(value: Any, depth: int = 0) -> Any:
    """JSON-ready: `Opaque` -> "<qualname>", non-finite floats -> strings (strict JSON).
    Depth-capped: config.json may nest as deep as the JSON parser allowed."""
    # an `Opaque` comes only from a checkpoint read: without one the index module is not
    # loaded (`keys` never imports it) and no value can be one
    index = sys.modules.get("ckptlens.checkpoint.index")
    if index is not None and isinstance(value, index.Opaque):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_DEPTH:
        return "<...>"
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return value
