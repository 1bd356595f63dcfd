"""What every text report shares: ANSI styles (only when colour is on), paths shown relative
to the working folder, counted words."""

from __future__ import annotations

import os

from ckptlens.findings import Severity

RESET = "\033[0m"
BOLD = "\033[1m"
DIM = "\033[2m"
COLORS = {
    Severity.ERROR: "\033[1;31m",
    Severity.WARNING: "\033[1;33m",
    Severity.INFORMATION: "\033[1;34m",
    Severity.HINT: "\033[2m",
}
GREEN = "\033[1;32m"
RED = "\033[1;31m"


def paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{RESET}" if color and style else text


def display_path(path: str, cwd: str | None) -> str:
    if not os.path.isabs(path):
        return path
    base = cwd if cwd is not None else os.getcwd()
    try:
        relative = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
