"""Text from files (checkpoint keys, entry names, paths, messages quoting them) made safe to
print on a terminal: control characters are shown as escapes, never sent. A key holding
`\x1b]0;title\x07`, `\x1b[2J` or `\r✓ all tensors match` would otherwise retitle the terminal,
clear the screen or overwrite a line."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides/isolates.
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_CONTROLS}]")
# What ckptlens itself writes when it colours its output: SGR sequences only.
_SGR_OR_CONTROL = re.compile(f"(\x1b\\[[0-9;]*m)|([{_CONTROLS}])")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_control(text: str) -> str:
    """`text` with every control character (newlines and tabs too) shown as an escape."""
    return _CONTROL.sub(_escape, text)


def safe_output(text: str, *, color: bool) -> str:
    """A whole report about to be written: control characters escaped, except line breaks and
    tabs, and (when `color`) the colour sequences ckptlens writes itself."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1) if color else _escape(match)
        char = match.group(2)
        return char if char in "\n\t" else _escape(match)

    return _SGR_OR_CONTROL.sub(replace, text)
