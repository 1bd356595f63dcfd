"""Function bodies parsed when first read (`engine.loader.parse_lazily`): once a file was parsed,
a later parse of the same text blanks the outermost functions' bodies and parses each from the
original lines when read. Every tree it gives is the full parse's, node for node and position
for position, whatever touches the bodies (the interpreter, `ast.walk`, `ast.dump`)."""

from __future__ import annotations

import ast
import glob
import os
from pathlib import Path

import pytest

from ckptlens.engine import body_spans, loader

TRICKY = '''\
"""A module with the constructs a blanked body must survive."""
import os


def plain(a, b=1):
    """A docstring
with a line at column 0 inside it."""
    x = a + b
    return x


@staticmethod
@some.decorator(
    1,
)
def decorated(
    a,
    b,
):
    y = """
text at column 0
"""
    return y


def header_ends_here(
    a): x = a; y = x; return y


async def coroutine(a):
    await a
    async with a as b:
        pass
    return b


class Outer:
    attr = 1

    def method(self):
        def inner():
            return 1

        class Local:
            def deep(self):
                return 2

        return inner

    class Nested:
        def nested_method(self, é="ü"):
            return "non-ASCII: é ü ß"  # a comment: ÿ

    @property
    def prop(self):
        return (
            1
        )


if os.environ.get("X"):
    def in_if():
        a = 1
        return a
else:
    def in_else():
        a = 2
        return a

try:
    def in_try():
        a = 1
        return a
except ImportError:
    def in_except():
        a = 1
        return a
finally:
    def in_finally():
        a = 1
        return a

match os.name:
    case "posix":
        def in_case():
            a = 1
            return a


def one_liner(): return 1


def ends_with_a_string():
    a = 1
    return """
"""


def tabs():
\tx = 1
\ty = 2
\treturn x + y
'''


def _filler(n: int) -> str:
    return "".join(f"\n\ndef filler_{i}(a):\n    b = a * {i}\n    c = b + 1\n    return c\n" for i in range(n))


def _lazy_nodes(tree: ast.AST) -> int:
    """Stubbed functions not yet parsed (counted without reading any body)."""
    count = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (loader._LazyFunctionDef, loader._LazyAsyncFunctionDef)):
            count += "body" not in node.__dict__
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(children)
    return count


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKPTLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CKPTLENS_NO_CACHE", raising=False)


def _same(path: str, text: str) -> loader.SourceFile:
    full = loader.parse_source(path, text)
    lazy = loader.parse_lazily(path, text)
    assert ast.dump(lazy.tree, include_attributes=True) == ast.dump(full.tree, include_attributes=True)
    assert lazy.lines == full.lines and lazy.text == full.text
    return lazy


def test_the_second_parse_is_lazy_and_gives_the_full_tree(tmp_path: Path) -> None:
    text = TRICKY + _filler(400)
    assert len(text) > loader._LAZY_MIN_CHARS
    path = str(tmp_path / "tricky.py")
    first = loader.parse_lazily(path, text)
    assert _lazy_nodes(first.tree) == 0  # the first parse is a full one, leaving the spans
    second = loader.parse_lazily(path, text)
    assert _lazy_nodes(second.tree) > 400
    _same(path, text)


def test_bodies_are_parsed_when_read(tmp_path: Path) -> None:
    text = TRICKY + _filler(400)
    path = str(tmp_path / "tricky.py")
    loader.parse_lazily(path, text)
    tree = loader.parse_lazily(path, text).tree
    full = loader.parse_source(path, text).tree
    lazy_plain = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "plain")
    full_plain = next(n for n in full.body if isinstance(n, ast.FunctionDef) and n.name == "plain")
    assert type(lazy_plain).__name__ == "FunctionDef" and "body" not in lazy_plain.__dict__
    assert ast.get_docstring(lazy_plain) == ast.get_docstring(full_plain)
    assert ast.dump(lazy_plain, include_attributes=True) == ast.dump(full_plain, include_attributes=True)
    # what holds a stub ends where the real body ended
    outer = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    full_outer = next(n for n in full.body if isinstance(n, ast.ClassDef))
    assert (outer.end_lineno, outer.end_col_offset) == (full_outer.end_lineno, full_outer.end_col_offset)


def test_a_lazy_tree_pickles_and_copies(tmp_path: Path) -> None:
    import copy
    import pickle

    text = TRICKY + _filler(400)
    path = str(tmp_path / "tricky.py")
    loader.parse_lazily(path, text)
    full = ast.dump(loader.parse_source(path, text).tree, include_attributes=True)
    for clone in (
        pickle.loads(pickle.dumps(loader.parse_lazily(path, text).tree)),
        copy.deepcopy(loader.parse_lazily(path, text).tree),
    ):
        assert ast.dump(clone, include_attributes=True) == full


def test_an_edited_text_or_a_damaged_cache_entry_parses_in_full(tmp_path: Path) -> None:
    text = TRICKY + _filler(400)
    path = str(tmp_path / "tricky.py")
    loader.parse_lazily(path, text)
    edited = text.replace("b = a * 7\n", "b = a * 7\n    b += 1\n")  # a body one line longer
    _same(path, edited)
    for damage in ('{"stamp": "x", "value": [[1, 2, 3]]}', "not json", '{"value": [["a"]]}'):
        cache = loader._lazy_cache(path)
        Path(cache.path).write_text(damage)
        _same(path, text)
    disk = loader._lazy_cache(path)
    import hashlib

    disk.stamp = hashlib.sha1(text.encode()).hexdigest()
    disk.write([[5, 999999, 3]])  # spans that do not fit the text
    _same(path, text)


def test_text_with_other_line_breaks_is_parsed_in_full(tmp_path: Path) -> None:
    text = TRICKY.replace("x = a + b", "x = a + b  # \x0c form feed") + _filler(400)
    path = str(tmp_path / "ff.py")
    loader.parse_lazily(path, text)
    assert _lazy_nodes(loader.parse_lazily(path, text).tree) == 0
    _same(path, text)


def _library_files() -> list[str]:
    """A spread of the big files of torch.nn and the model libraries installed (found, not
    imported)."""
    import importlib.util

    roots = []
    for name in ("torch", "timm", "diffusers", "torchvision", "transformers"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folder = list(spec.submodule_search_locations)[0]
            roots.append(os.path.join(folder, "nn") if name == "torch" else folder)
    files = []
    for root in roots:
        found = sorted(p for p in glob.glob(f"{root}/**/*.py", recursive=True) if os.path.getsize(p) > loader._LAZY_MIN_CHARS)
        files.extend(found[:: max(1, len(found) // 15)])
    return files


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: "/".join(p.split(os.sep)[-2:]))
def test_library_files_parse_lazily_to_the_full_tree(path: str) -> None:
    with open(path, "rb") as handle:
        text = loader.decode_source(handle.read())
    loader.parse_lazily(path, text)
    _same(path, text)


# -- the spans found by scanning the text (installed libraries' files, no cache entry yet) ----


def _sorted_spans(spans: list[list[int]] | None) -> list[list[int]] | None:
    return None if spans is None else sorted(spans)


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: "/".join(p.split(os.sep)[-2:]))
def test_the_scan_finds_the_spans_of_the_full_parse(path: str) -> None:
    with open(path, "rb") as handle:
        text = loader.decode_source(handle.read())
    full = loader.parse_source(path, text)
    scanned = body_spans.scan_body_spans(text, full.lines)
    assert scanned is not None
    assert _sorted_spans(scanned) == _sorted_spans(loader._body_spans(full.tree, full.lines))


def test_the_scan_of_tricky_constructs() -> None:
    text = TRICKY.replace("\t", "    ") + _filler(3) + '''
def decorated_first():
    @wraps(f)
    def inner():
        return 1
    return inner


def continued(a):
    x = a + \\
        1
    y = [
        x,  # a comment ) ]
    ]
    return f"{x!r} )" 'x' r"\\"" '\\''


def strings_last():
    a = 1
    b = 2
    return (
        """
        closing ) here
        """  # and a comment
    )
'''
    full = loader.parse_source("t.py", text)
    assert _sorted_spans(body_spans.scan_body_spans(text, full.lines)) == _sorted_spans(
        loader._body_spans(full.tree, full.lines)
    )


@pytest.mark.parametrize(
    "text",
    [
        "def f():\n    a = 1\n    b = 2\n    c = 3;\n",  # a `;` ends the body: not followed
        "def f():\n\ta = 1\n\tb = 2\n\treturn a\n",  # tabs: not followed
        "def f():\n    a = 'open\n    b = 2\n    return a\n",  # an open quote
    ],
)
def test_the_scan_declines_what_it_does_not_follow(text: str) -> None:
    assert body_spans.scan_body_spans(text, text.splitlines()) is None


def test_an_installed_file_is_lazy_on_its_first_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = TRICKY.replace("\t", "    ") + _filler(400)
    folder = tmp_path / "lib" / "site-packages" / "pkg"
    folder.mkdir(parents=True)
    path = str(folder / "mod.py")
    monkeypatch.setenv("CKPTLENS_NO_CACHE", "1")
    first = loader.parse_lazily(path, text)
    assert _lazy_nodes(first.tree) > 400
    assert ast.dump(first.tree, include_attributes=True) == ast.dump(
        loader.parse_source(path, text).tree, include_attributes=True
    )
    # elsewhere (a project's own file) the first parse is a full one, as before
    own = str(tmp_path / "mod.py")
    assert _lazy_nodes(loader.parse_lazily(own, text).tree) == 0
