"""The `inferred` quick fix in a `# ckptlens:` directive: the values the checkpoint was saved
with written into the directive as `init:` entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ckptlens.api import Inferred
from ckptlens.findings import Finding, Fix, SourceRange
from ckptlens.workspace.model import DIRECTIVE

if TYPE_CHECKING:
    from ckptlens.workspace.model import Link


def directive_values_fix(link: Link, finding: Finding, source: str) -> Fix | None:
    """"Use the checkpoint's values": the inferred values written into the class's
    `# ckptlens:` directive as `init:` entries (`init:n_layer=6 init:config.n_embd=32`)."""
    values = finding.details.plain if isinstance(finding.details, Inferred) else {}
    if link.kind != DIRECTIVE or link.path_range is None or not values:
        return None
    lines = source.splitlines()
    line = link.path_range.start_line
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    entries = [f"init:{name}={value!r}" for name, value in values.items() if f"init:{name}=" not in text]
    if not entries:
        return None
    end = len(text.rstrip())
    where = SourceRange(link.path_range.file, line, end, line, len(text))
    return Fix("Use the checkpoint's values", ((where, " " + " ".join(entries)),))
