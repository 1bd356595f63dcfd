"""Go to definition and document links: the code that creates a state_dict key, the dotted
string under the cursor, the checkpoint paths of load calls as links to the files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ckptlens.checkpoint.remote import is_remote
from ckptlens.findings import SourceRange
from ckptlens.lsp.results import DocumentAnalysis


def key_origin(analyses: Sequence[DocumentAnalysis], key: str) -> SourceRange | None:
    """The code creating a state_dict key (model key, checkpoint key or module path)."""
    for analysis in analyses:
        for outcome in analysis.results:
            if outcome.result is None:
                continue
            predicted = outcome.result.predicted
            for candidate in (key, outcome.result.mapping.mapping.get(key)):
                if candidate is None:
                    continue
                if candidate in predicted.tensors:
                    return predicted.tensors[candidate].origin
                if candidate in predicted.modules and candidate:
                    return predicted.modules[candidate].origin
    return None


_STRING = re.compile(r"""(?P<q>["'])(?P<body>[A-Za-z_][\w.]*)(?P=q)""")


def string_at(line_text: str, col: int) -> str | None:
    """The dotted string literal under the cursor (0-based character column), if any."""
    for match in _STRING.finditer(line_text):
        if match.start() <= col <= match.end():
            return match.group("body")
    return None


@dataclass(frozen=True)
class DocumentLinkTarget:
    range: SourceRange
    target: str  # absolute path


def document_links(analysis: DocumentAnalysis) -> list[DocumentLinkTarget]:
    out: dict[SourceRange, DocumentLinkTarget] = {}
    for outcome in analysis.results:
        link = outcome.link
        if (
            link.site_file == analysis.path
            and link.literal_range is not None
            and outcome.resolution.path
            and not is_remote(outcome.resolution.path)  # no local file to open
        ):
            out.setdefault(
                link.literal_range, DocumentLinkTarget(link.literal_range, outcome.resolution.path)
            )
    return list(out.values())
