"""`[[tool.ckptlens.link]]` tables in `pyproject.toml`, and the same list in the editor setting."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ckptlens.workspace.model import PYPROJECT, Link

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None


def links_from_tables(
    tables: Iterable[Any], base_dir: str, *, kind: str, origin: str
) -> tuple[list[Link], list[str]]:
    """`[{class = "models/net.py:Net", checkpoint = "ckpts/net.pt", init = {...}, config = ...}]`
    -> links (class files not checked yet) and one-line problems."""
    links: list[Link] = []
    problems: list[str] = []
    if not isinstance(tables, list | tuple):
        return [], [f"{origin}: the links must be a list of tables"]
    for number, table in enumerate(tables, 1):
        where = f"{origin}: link {number}"
        if not isinstance(table, Mapping):
            problems.append(f"{where}: expected a table with `class` and `checkpoint`")
            continue
        target, checkpoint = table.get("class"), table.get("checkpoint")
        if not isinstance(target, str) or ":" not in target or not isinstance(checkpoint, str):
            problems.append(
                f'{where}: needs class = "path/to/file.py:ClassName" and checkpoint = "path"'
            )
            continue
        file_part, _, class_name = target.rpartition(":")
        if not class_name.isidentifier():
            problems.append(f"{where}: `{class_name}` is not a class name")
            continue
        if not file_part.endswith(".py") and "/" not in file_part and os.sep not in file_part:
            file_part = file_part.replace(".", "/") + ".py"  # a dotted module
        class_file = os.path.normpath(os.path.join(base_dir, os.path.expanduser(file_part)))
        init = table.get("init", {})
        if not isinstance(init, Mapping):
            problems.append(f"{where}: `init` must be a table")
            init = {}
        config = table.get("config")
        links.append(
            Link(
                kind=kind,
                class_file=class_file,
                class_name=class_name,
                checkpoint=checkpoint,
                search_dirs=(base_dir,),
                init=tuple((str(k), v) for k, v in init.items()),
                config=config if isinstance(config, str) else None,
                origin=origin,
            )
        )
    return links, problems


def read_pyproject_links(pyproject: str) -> tuple[list[Link], list[str]]:
    if not os.path.isfile(pyproject):
        return [], []
    if tomllib is None:  # pragma: no cover
        return [], [f"{pyproject}: reading pyproject.toml needs Python 3.11"]
    try:
        with open(pyproject, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError) as exc:
        return [], [f"{pyproject}: cannot read: {exc}"]
    tables = data.get("tool", {}).get("ckptlens", {}).get("link", [])
    return links_from_tables(tables, os.path.dirname(pyproject), kind=PYPROJECT, origin=pyproject)
