"""Exceptions that carry control flow and outcomes through the interpreter."""

from __future__ import annotations

from typing import Any


class Budget(Exception):
    """The step or depth limit was reached: the analysis stops instead of hanging."""


class Unfollowable(Exception):
    """A change the analysis cannot follow (an item stored under an unknown key, a list edited
    at an unknown index): the container's contents are no longer known. Raised rather than
    ignored, so the statement building that part is contained (its result becomes unknown)."""


class Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


class TooLong(Exception):
    """A comprehension makes too many values to follow (caught by its own evaluation)."""


class Raised(Exception):
    """The interpreted code raises: this path does not build anything."""

    def __init__(self, where: str | None = None, what: str = "") -> None:
        super().__init__(what)
        self.where = where
        self.what = what
