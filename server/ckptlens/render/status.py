"""What the editor says about a document's analysis itself, rather than about its code: not
analysed (too large), stopped (over the time limit), failed, or more diagnostics than are
shown. One line each, in words: an exception's class name stays in the log."""

from __future__ import annotations

_FAILURE_WORDS = {
    "MemoryError": "it ran out of memory",
    "RecursionError": "it nests too deeply",
    "OverflowError": "a number grew too large",
    "UnicodeDecodeError": "text that is not valid in its encoding",
    "UnicodeEncodeError": "text that cannot be encoded",
    "TimeoutError": "it took too long",
}


def failure_in_words(kind: str, message: str) -> str:
    """An unexpected failure as the editor shows it: the problem in words, never an exception
    class name (the log keeps the class and the traceback)."""
    words = _FAILURE_WORDS.get(kind, "an internal error")
    detail = " ".join(message.split())[:300]
    return f"{words} ({detail})" if detail else words


def stopped_message(reason: str) -> str:
    return (
        f"ckptlens stopped analysing this file: {reason} (ckptlens.analysisTimeoutMs); "
        "it is analysed again when it changes"
    )


def too_large_message(size: int, cap: int) -> str:
    return (
        f"ckptlens does not analyse this file: it is {size:,} bytes, over the "
        f"{cap:,}-byte limit (ckptlens.maxDocumentSize)"
    )


def truncated_message(shown: int, total: int) -> str:
    return (
        f"ckptlens shows {shown:,} of the {total:,} "
        "diagnostics of this file (errors and warnings first)"
    )


def halted_message(message: str, others: bool) -> str:
    """Why the analysis was stopped or not started; `others`: last good diagnostics are shown."""
    if others:
        message += " (the other diagnostics are from the last analysis that finished)"
    return message


def failed_message(failure: str, others: bool) -> str:
    """The analysis raised (`failure`: in words); `others`: last good diagnostics are shown."""
    kept = " (the other diagnostics are from the last analysis that worked)" if others else ""
    return (
        f"ckptlens could not analyse this file: {failure}{kept}; "
        "the ckptlens log has the details"
    )


def checkpoint_related(path: str) -> str:
    """A diagnostic's related information: the checkpoint it is about."""
    return f"checkpoint: {path}"
