"""What a remote reference holds: its files (name -> size and version tag), as a backend (the
Hub, fsspec, plain HTTP) resolved it, and how to open each one by ranges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ckptlens.checkpoint.remote.rangefile import RemoteObject

FileInfo = tuple[int, str]  # size, version tag (ETag, commit)
MakeObject = Callable[[str, int, str], RemoteObject]


@dataclass
class Listing:
    shown: str  # the reference, safe to show
    make: MakeObject  # an object for a listed name
    known: dict[str, FileInfo | None]  # names relative to the reference's folder; None: absent
    target: str | None = None  # the file the reference names, if it names one
    complete: bool = True  # `known` lists every file; else unknown names are probed
    probe: Callable[[str], FileInfo | None] | None = None
    local: str | None = None  # a complete local copy (the Hugging Face cache): read it instead
    notes: list[str] = field(default_factory=list)
    changed: bool = False  # probing learned something the cached listing lacks

    def names(self) -> list[str]:
        return sorted(name for name, info in self.known.items() if info is not None)

    def get(self, name: str) -> RemoteObject | None:
        if name not in self.known:
            if self.complete or self.probe is None:
                return None
            self.known[name] = self.probe(name)
            self.changed = True
        info = self.known[name]
        return None if info is None else self.make(name, *info)

    def to_json(self) -> dict[str, object]:
        return {"known": {k: (list(v) if v else None) for k, v in self.known.items()}, "target": self.target}


def known_from_json(value: object) -> dict[str, FileInfo | None]:
    raw = value.get("known", {}) if isinstance(value, dict) else {}
    known: dict[str, FileInfo | None] = {}
    for name, info in raw.items():
        if info is None:
            known[name] = None
        else:
            size, tag = info
            known[name] = (int(size), str(tag))
    return known
