"""What a value the interpreter is about to compute would cost (issue: hostile inputs).

The step budget counts statements and expressions, but one Python operation on a huge value
escapes it: `n = n * n` in a loop doubles an integer's size each time, `'%0999999999d' % 1`
builds a 1 GB string, `math.prod([10**60] * 100000)` multiplies for minutes. Each such operation
is checked here first, from the sizes of its operands; beyond the caps the result is unknown.
Shapes never need anything near them: a dim is far below 2**63.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

MAX_INT_BITS = 4096  # an integer result above this many bits is unknown
MAX_TEXT = 100_000  # characters of a string result, and a field width
MAX_ITEMS = 100_000  # items flattened out of the arguments of one pure call

_WIDTH = re.compile(r"\d{6,}")  # a width or precision of 100,000 or more in a format spec


def _int_bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) and not isinstance(value, bool) else 0


def binop_too_costly(op: ast.operator, left: Any, right: Any) -> bool:
    """True when `left op right` on plain values would build a huge int or string."""
    lbits, rbits = _int_bits(left), _int_bits(right)
    if isinstance(op, ast.Mult):
        if isinstance(left, str) or isinstance(right, str):
            text, count = (left, right) if isinstance(left, str) else (right, left)
            return isinstance(count, int) and len(text) * max(count, 0) > MAX_TEXT
        return lbits + rbits > MAX_INT_BITS
    if isinstance(op, ast.Pow) and isinstance(right, int) and isinstance(left, int):
        return right > 0 and max(lbits, 1) * right > MAX_INT_BITS
    if isinstance(op, ast.LShift) and isinstance(right, int):
        return lbits + max(right, 0) > MAX_INT_BITS
    if isinstance(op, ast.Mod) and isinstance(left, str):
        return bool(_WIDTH.search(left))
    if isinstance(op, (ast.Add, ast.Sub)) and isinstance(left, str) and isinstance(right, str):
        return len(left) + len(right) > MAX_TEXT
    return max(lbits, rbits) > MAX_INT_BITS


def call_too_costly(name: str, receiver: Any, args: Iterable[Any]) -> bool:
    """True when a pure call (`math.prod`, `format`, `str.zfill`, ...) on these values would be
    too large to compute, or its arguments are already too large to walk."""
    values = list(args)
    if isinstance(receiver, str):
        if len(receiver) > MAX_TEXT:
            return True
        if name in ("zfill", "ljust", "rjust", "center", "expandtabs"):
            return any(isinstance(v, int) and v > MAX_TEXT for v in values)
        if name == "format" and _WIDTH.search(receiver):
            return True
    if name in ("format", "builtins.format") and any(isinstance(v, str) and _WIDTH.search(v) for v in values):
        return True
    bits = items = biggest = 0
    stack = list(values)
    while stack:
        value = stack.pop()
        items += 1
        if items > MAX_ITEMS:
            return True
        if isinstance(value, (list, tuple, set, frozenset)):
            if len(value) > MAX_ITEMS:
                return True
            stack.extend(value)
        elif isinstance(value, dict):
            if len(value) > MAX_ITEMS:
                return True
            stack.extend(value.values())
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            return True
        else:
            size = _int_bits(value)
            bits += size
            biggest = max(biggest, size)
    if name.rsplit(".", 1)[-1] in _GROWING:
        return bits > MAX_INT_BITS  # a product may reach the sum of its factors' sizes
    return biggest > MAX_INT_BITS


# pure functions whose result grows with all their arguments together
_GROWING = frozenset({"prod", "pow", "mul", "lcm", "factorial", "comb", "perm", "ldexp", "lshift"})
