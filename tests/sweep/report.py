"""Group sweep results by recurring cause, and print/write the figures."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sweep.classify import summarize

Record = dict[str, Any]


def _norm(text: str) -> str:
    """Names and numbers out, so that one cause in many models reads the same."""
    text = re.sub(r"\d+", "N", text)
    text = re.sub(r"0xN?[0-9a-f]*", "0x…", text)
    return text[:160]


def _key_pattern(key: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".N", key)


# What the recurring wrong/unknown groups come from, read by hand in the library sources
# (regex on the group's line -> explanation). A group no pattern matches is shown as is.
EXPLAINED: list[tuple[str, str]] = [
    (r"torchvision/models/regnet\.py: missing `trunk_output",
     "`nn.Sequential(OrderedDict(blocks))` built in a loop of unknown length: the prediction marks "
     "index `0` unknown while the real children are named (`block1`...)"),
    (r"timm/models/(resnet|res2net|resnest|sknet)\.py: missing `layer",
     "`self.add_module(*stage)` with `stage` from `make_blocks` is skipped: layer1-4 vanish with no "
     "unknown marker"),
    (r"timm/models/cspnet\.py: missing `stem\.",
     "timm CSP stem (`create_csp_stem`) missing, no unknown marker"),
    (r"timm/models/cpubone\.py: missing `stem\.",
     "cpu-bone stem norms missing, no unknown marker"),
    (r"timm/models/[a-z0-9_]+\.py: (extra `head|shape dim|extra `fc_norm|missing `head)",
     "timm's builder takes `num_classes` (and other kwargs) from the variant's pretrained config "
     "(`build_model_with_cfg`); the prediction uses the class defaults (head size differs, or a "
     "`num_classes=0` head predicted)"),
    (r"squeezebert/.*missing `encoder\.layers\.N\.post_attention\.layernorm",
     "an `nn.LayerNorm` subclass calling `nn.LayerNorm.__init__(self, ...)` directly gets no parameters"),
    (r"xlstm/modeling_xlstm\.py: missing `blocks",
     "`xLSTMBlock` is defined twice (`if is_xlstm_available():` ... `else:`): the branch whose base "
     "class comes from the absent `xlstm` package builds a block without keys, no unknown marker"),
    (r"levit/modeling_levit\.py: shape",
     "`attention_offsets`, a dict filled in a nested loop over `itertools.product` points (keyed "
     "by offset tuples, `if offset not in attention_offsets`), has 1 entry in the prediction, 196 in torch"),
    (r"seamless_m4t(_v2)?/modeling_seamless_m4t(_v2)?\.py: extra `t2u_model",
     "config values set in a loop through `config.__setattr__(param[4:], val)` (the `t2u_*` "
     "values) are ignored: the t2u sub-model gets the text model's sizes"),
    (r"raises at torchvision/models/[a-z_]+\.py:\d+: raise TypeError\('The (block_setting|inverted_residual_setting)",
     "`isinstance(x, Sequence)` (typing / collections.abc) answers False for a plain list: the "
     "library's own `raise TypeError` runs and the whole model is lost"),
]


def explain(line: str) -> str | None:
    for pattern, text in EXPLAINED:
        if re.search(pattern, line):
            return text
    return None


def cause(record: Record) -> str:
    """One line naming what went wrong (wrong), what stayed unknown (unknown-only) or what raised."""
    cls = record["class"]
    if cls == "wrong":
        wrong = record["wrong"]
        parts = []
        if wrong["n_missing"]:
            parts.append(f"missing `{_key_pattern(wrong['missing'][0])}`")
        if wrong["n_extra"]:
            parts.append(f"extra `{_key_pattern(wrong['extra'][0])}`")
        if wrong["n_shapes"]:
            key, got, want = wrong["shapes"][0]
            parts.append(f"{'rank' if len(got) != len(want) else 'shape'} of `{_key_pattern(key)}`")
        where = record.get("file", "?")
        return f"{where}: " + ", ".join(parts)
    if cls in ("error", "no-truth"):
        return _norm(record.get("error", "?"))
    if cls == "unknown-only":
        unknown = record.get("unknown") or []
        if unknown:
            prefix, reason = unknown[0]
            scope = "whole model" if prefix == "" else "a submodule"
            if "raise" in reason and record.get("last_raise"):
                return f"{scope}: raises at {record['last_raise']}"
            reason = re.sub(r"constructing `[^`]*`", "constructing `…`", reason)
            return f"{scope}: {_norm(reason)}"
        if record.get("open"):
            prefix, reason = record["open"][0]
            return f"may hold more keys: {_norm(reason)}"
        for info in record.get("info", []):
            return f"dims: {_norm(info['message'])}"
        return "keys or dims unknown"
    return cls


def group(results: dict[str, Record], classes: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name, record in sorted(results.items()):
        if record["class"] in classes:
            groups[cause(record)].append(name)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


TIME_LABELS = {"cli_seconds": "CLI per call, start-up included", "seconds": "in-process predict, warm analyzer"}


def figures_table(summaries: dict[str, dict[str, Any]], planned: dict[str, int] | None = None) -> str:
    head = (f"{'library':14}{'swept':>6}{'exact':>7}{'order':>7}{'unk-only':>9}{'wrong':>7}{'error':>7}"
            f"{'no-truth':>9}{'exact%':>8}{'coverage':>9}{'p50':>8}{'p95':>8}{'max':>8}")
    lines = [head, "-" * len(head)]
    for library, s in summaries.items():
        c = s["counts"]
        lines.append(
            f"{library:14}{s['swept']:>6}{c['exact']:>7}{c['order-only']:>7}{c['unknown-only']:>9}{c['wrong']:>7}"
            f"{c['error']:>7}{c['no-truth']:>9}{100 * s['exact_fraction']:>7.1f}%{100 * s['coverage']:>8.1f}%"
            f"{s['p50'] * 1000:>6.0f}ms{s['p95'] * 1000:>6.0f}ms{s['max']:>7.1f}s  ({TIME_LABELS[s['time']]}, "
            f"{s['timed']} calls)"
        )
        total = s["swept"] + c["no-truth"]
        if planned and planned.get(library, total) > total:
            lines.append(f"{'':14}(partial: {total} of {planned[library]} so far)")
    return "\n".join(lines)


def summary_markdown(by_library: dict[str, dict[str, Record]], *, engine: str, planned: dict[str, int] | None = None) -> str:
    summaries = {lib: summarize(res) for lib, res in by_library.items()}
    out = ["# Sweep results", "", f"Engine: {engine}", "",
           "Classes: exact (keys, order, shapes equal torch's `state_dict()`), order-only, unknown-only",
           "(every known key/dim right, some unknown), wrong (a known key or dim contradicts torch: a",
           "correct checkpoint would get a false error), error (ckptlens raised or timed out), no-truth",
           "(torch itself could not build the model on the meta device).", "",
           "```", figures_table(summaries, planned), "```", ""]
    clean = []
    for library, results in by_library.items():
        for name, record in sorted(results.items()):
            if record.get("clean"):
                first = record["clean"][0]
                clean.append(f"- {library} `{name}` ({record['class']}): {len(record['clean'])} finding(s), "
                             f"e.g. {first['code']}: {first['message'][:200]}")
    if clean:
        out += ["## A clean checkpoint gets mismatch findings", "", *clean, ""]
    for title, classes in (("Wrong", ("wrong",)), ("Errors", ("error",)),
                           ("Unknown-only", ("unknown-only",)), ("Order-only", ("order-only",)),
                           ("No ground truth", ("no-truth",))):
        sections = []
        for library, results in by_library.items():
            groups = group(results, classes)
            if not groups:
                continue
            total = sum(len(names) for _, names in groups)
            sections.append(f"### {library} ({total})\n")
            for reason, names in groups:
                example = names[0]
                detail = _detail(results[example])
                why = explain(reason)
                sections.append(f"- **{len(names)}** × {reason} — e.g. `{example}`{detail}")
                if why:
                    sections.append(f"  - cause: {why}")
                if len(names) > 1:
                    shown = ", ".join(names[1:12]) + (" …" if len(names) > 12 else "")
                    sections.append(f"  - also: {shown}")
            sections.append("")
        if sections:
            out += [f"## {title}", "", *sections]
    return "\n".join(out) + "\n"


def _detail(record: Record) -> str:
    if record["class"] == "wrong":
        w = record["wrong"]
        bits = []
        if w["n_missing"]:
            bits.append(f"{w['n_missing']} missing e.g. {', '.join(w['missing'][:2])}")
        if w["n_extra"]:
            bits.append(f"{w['n_extra']} extra e.g. {', '.join(w['extra'][:2])}")
        if w["n_shapes"]:
            key, got, want = w["shapes"][0]
            bits.append(f"{w['n_shapes']} shapes e.g. {key} {got} vs torch {want}")
        return ": " + "; ".join(bits)
    if record["class"] == "unknown-only" and record.get("unknown"):
        prefix, reason = record["unknown"][0]
        return f": `{prefix or '<root>'}`: {reason[:200]}"
    if record["class"] == "error" and record.get("traceback"):
        return f": {record['traceback'][-1][:200]}"
    return ""
