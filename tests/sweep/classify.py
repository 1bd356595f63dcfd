"""Compare a prediction with torch's state_dict and classify it.

- exact: no unknown part, every key in torch's order, every shape fully known and equal;
- order-only: as exact but the keys come in another order (loading does not care);
- unknown-only: every known key and known dim agrees with torch; some keys or dims unknown
  (under an unknown part), or absent under a module the engine says may hold more keys than
  predicted (an *open* module: torch's extra keys there are not contradicted);
- wrong: a known key or dim contradicts torch (a correct checkpoint would get a false error):
  a predicted key torch does not have, a torch key the prediction lacks while it is under no
  unknown part, or a known dim (or the rank) that differs;
- error: ckptlens raised (or timed out).

Key coverage: torch keys predicted with their full, correct shape (and not under an unknown
part) / all torch keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

CLASSES = ("exact", "order-only", "unknown-only", "wrong", "error")
DETAIL = 5  # how many contradicting keys/shapes a result keeps, per kind


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(p == "" or key == p or key.startswith(p + ".") for p in prefixes)


def classify(
    truth: Iterable[tuple[str, Sequence[int], str]],
    predicted: dict[str, Sequence[int | None] | None],
    unknown_prefixes: Sequence[str],
    open_prefixes: Sequence[str] = (),
) -> dict[str, Any]:
    """`predicted`: key -> shape (None dims unknown; None shape unknown), in predicted order."""
    truth = list(truth)
    real = {k: tuple(s) for k, s, _ in truth}
    unlisted = [k for k in real if k not in predicted and not _under(k, unknown_prefixes)]
    missing = [k for k in unlisted if not _under(k, open_prefixes)]
    beyond = len(unlisted) - len(missing)  # torch keys the prediction leaves to an open module
    extra = [k for k in predicted if k not in real and not _under(k, unknown_prefixes)]
    shapes: list[tuple[str, Any, list[int]]] = []
    correct = keys_only = unknown_keys = 0
    for key, shape in real.items():
        if _under(key, unknown_prefixes):
            unknown_keys += 1
            continue
        if key not in predicted:
            continue  # listed in `missing`
        guess = predicted[key]
        if guess is None:
            keys_only += 1
        elif len(guess) != len(shape) or any(g is not None and g != d for g, d in zip(guess, shape, strict=False)):
            shapes.append((key, list(guess), list(shape)))
        elif any(g is None for g in guess):
            keys_only += 1
        else:
            correct += 1
    common = [k for k in predicted if k in real]
    in_order = common == [k for k in real if k in predicted]
    if missing or extra or shapes:
        cls = "wrong"
    elif unknown_prefixes or keys_only or beyond or len(common) != len(real):
        cls = "unknown-only"
    elif not in_order or len(predicted) != len(real):
        cls = "order-only"
    else:
        cls = "exact"
    out: dict[str, Any] = {
        "class": cls,
        "truth_keys": len(real),
        "predicted_keys": len(predicted),
        "correct": correct,
        "keys_only": keys_only,
        "unknown_keys": unknown_keys,
        "open_keys": beyond,
        "coverage": correct / len(real) if real else 1.0,
    }
    if cls == "wrong":
        out["wrong"] = {
            "missing": missing[:DETAIL], "n_missing": len(missing),
            "extra": extra[:DETAIL], "n_extra": len(extra),
            "shapes": shapes[:DETAIL], "n_shapes": len(shapes),
        }
    return out


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarize(results: dict[str, dict[str, Any]], time_field: str | None = None) -> dict[str, Any]:
    """Counts per class, key coverage over every swept architecture (an error covers nothing),
    p50/p95 of the per-call time: the CLI's (`cli_seconds`, start-up included) over the records
    that have one, else the in-process call's (`seconds`)."""
    if time_field is None:
        time_field = "cli_seconds" if any("cli_seconds" in r for r in results.values()) else "seconds"
    counts = dict.fromkeys(CLASSES, 0)
    counts["no-truth"] = 0
    total = correct = 0
    times = []
    for record in results.values():
        cls = record["class"]
        counts[cls] = counts.get(cls, 0) + 1
        if cls == "no-truth":
            continue
        total += record.get("truth_keys", 0)
        correct += record.get("correct", 0)
        if record.get(time_field) is not None:
            times.append(record[time_field])
    swept = sum(v for k, v in counts.items() if k != "no-truth")
    return {
        "swept": swept,
        "counts": counts,
        "exact_fraction": counts["exact"] / swept if swept else 0.0,
        "coverage": correct / total if total else 0.0,
        "p50": percentile(times, 0.5),
        "p95": percentile(times, 0.95),
        "max": max(times) if times else float("nan"),
        "time": time_field,
        "timed": len(times),
    }
