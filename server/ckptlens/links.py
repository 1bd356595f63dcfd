"""How classes get their checkpoints in the editor (SPEC section 4), found without running code.

Three ways, all of them:

1. a directive comment above the class (or as the first line of its body):
   `# ckptlens: checkpoint=path.ckpt config=cfg.json init:hidden=64`;
2. `[[tool.ckptlens.link]]` tables in `pyproject.toml`, and the same list in the
   `ckptlens.links` editor setting;
3. load calls: `Net.load_from_checkpoint("x.ckpt", num_classes=7)`, `Net.from_pretrained("dir")`,
   and `net = Net(...)` then `net.load_state_dict(...torch.load("x.pt")...)` (or safetensors'
   `load_file`) in the same scope.

Everything here is pure: `ast`, `tomllib` and the file system. Source files are read with `ast`
(a few ms per file) and cached by content, so the whole workspace can be scanned lazily.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ckptlens.checkpoint.remote import hub_ref, is_remote
from ckptlens.engine.mapping_code import ParsedMapping, find_mapping_functions
from ckptlens.findings import SourceRange

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

DIRECTIVE = "directive"
PYPROJECT = "pyproject"
SETTING = "setting"
LOAD_FROM_CHECKPOINT = "load_from_checkpoint"
FROM_PRETRAINED = "from_pretrained"
LOAD_STATE_DICT = "load_state_dict"
EXPLICIT_KINDS = frozenset({DIRECTIVE, PYPROJECT, SETTING})

HOOK_REGISTRARS = frozenset(
    {"register_load_state_dict_pre_hook", "_register_load_state_dict_pre_hook"}
)
# Arguments of `load_from_checkpoint` that are Lightning's own, not the class's.
_LIGHTNING_LOAD_PARAMS = frozenset(
    {"checkpoint_path", "map_location", "hparams_file", "strict", "weights_only"}
)
_CHAIN_METHODS = frozenset(
    {"to", "eval", "train", "cuda", "cpu", "float", "half", "double", "bfloat16", "requires_grad_"}
)
_STATE_DICT_LOADERS = frozenset(
    {"torch.load", "safetensors.torch.load_file", "safetensors.torch.load"}
)
_TRIGGER = re.compile(r"load_state_dict|load_from_checkpoint|from_pretrained|ckptlens:")
_DIRECTIVE = re.compile(r"^\s*#\s*ckptlens\s*:(?P<body>.*)$")
_DIRECTIVE_ITEM = re.compile(r"""(?P<key>[A-Za-z_][\w:.-]*)=(?P<value>"[^"]*"|'[^']*'|\S+)""")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".pkl", ".tar", ".json")

FILES_TTL = 30.0  # seconds a listing of the workspace's files is trusted
DEFAULT_EXCLUDES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        ".env",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "site-packages",
        "build",
        "dist",
        ".eggs",
    }
)


# -- data ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Link:
    """One class linked to one checkpoint, and where the link is written."""

    kind: str  # DIRECTIVE | PYPROJECT | SETTING | LOAD_FROM_CHECKPOINT | FROM_PRETRAINED | LOAD_STATE_DICT
    class_file: str
    class_name: str
    checkpoint: str  # as written
    search_dirs: tuple[str, ...]  # where a relative `checkpoint` is looked for, in order
    site_file: str | None = None  # the file that writes `checkpoint` (None: pyproject / setting)
    path_range: SourceRange | None = None  # the path expression at the site (diagnostics)
    literal_range: SourceRange | None = None  # the string literal itself (document links)
    class_range: SourceRange | None = None  # the class name, filled in when the class is found
    init: tuple[tuple[str, Any], ...] = ()  # literal keyword arguments at the site
    init_positional: tuple[tuple[int, Any], ...] = ()  # literal positional arguments, by index
    config: str | None = None  # as written, resolved like `checkpoint`
    strict_false: bool = False  # load_state_dict(..., strict=False)
    map_location: bool | None = None  # None: the call takes no map_location
    call_range: SourceRange | None = None  # the whole load call
    state_arg_range: SourceRange | None = None  # load_state_dict's first argument
    site_mapping: ParsedMapping | None = None  # a generated mapping applied at the load site
    origin: str = ""  # pyproject.toml path, or "settings"

    @property
    def key(self) -> str:
        """Identity for de-duplication: same class, same file, same arguments, same site."""
        return repr(
            (
                self.class_file,
                self.class_name,
                self.checkpoint,
                self.search_dirs,
                self.init,
                self.init_positional,
                self.config,
                self.site_mapping,
                self.path_range,
            )
        )

    @property
    def is_explicit(self) -> bool:
        return self.kind in EXPLICIT_KINDS

    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.init)


@dataclass(frozen=True)
class ClassDecl:
    name: str
    name_range: SourceRange
    first_line: int  # decorators included
    last_line: int
    body_indent: str
    mapping: (
        ParsedMapping | None
    )  # a generated remap method registered as a load_state_dict pre-hook
    has_hook: bool  # a load_state_dict pre-hook is registered in the class
    init_lines: tuple[int, int] | None  # `__init__`'s first and last lines


@dataclass(frozen=True)
class LoadSite:
    """A load call before its class is resolved: `class_ref` is the dotted class expression."""

    kind: str
    class_ref: tuple[str, ...]
    checkpoint: str
    path_range: SourceRange
    literal_range: SourceRange
    call_range: SourceRange
    init: tuple[tuple[str, Any], ...] = ()
    init_positional: tuple[tuple[int, Any], ...] = ()
    strict_false: bool = False
    map_location: bool | None = None
    state_arg_range: SourceRange | None = None
    site_mapping: ParsedMapping | None = None


@dataclass(frozen=True)
class ImportRef:
    module: str  # dotted module ("" for `from . import x`)
    level: int
    name: str | None  # the imported attribute (None for `import module`)


@dataclass(frozen=True)
class FileScan:
    path: str
    classes: dict[str, ClassDecl]
    directives: tuple[Link, ...]
    sites: tuple[LoadSite, ...]
    imports: dict[str, ImportRef]
    mapping_functions: dict[str, ParsedMapping]  # module-level generated mapping functions
    ok: bool = True  # False: the text does not parse (and there was no earlier good scan)
    stale: bool = False  # True: a syntax error; this is the last good scan

    def class_at_line(self, line: int) -> ClassDecl | None:
        """The innermost class whose lines hold `line`."""
        best = None
        for decl in self.classes.values():
            if decl.first_line <= line <= decl.last_line and (
                best is None or decl.first_line >= best.first_line
            ):
                best = decl
        return best


EMPTY_SCAN = FileScan("", {}, (), (), {}, {}, ok=False)


@dataclass(frozen=True)
class Resolution:
    path: str | None  # the existing file or folder
    tried: tuple[str, ...]  # what was looked at, for the message
    hub_id: str | None = None  # a Hugging Face hub id that is not in the local cache (then
    # `path` is its `hf://` reference, read from the Hub)


# -- positions ----------------------------------------------------------------------------


class _Positions:
    """ast's UTF-8 byte columns to character columns (the engine's convention)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def col(self, line: int, byte_col: int) -> int:
        if not 0 < line <= len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def range(self, node: ast.AST) -> SourceRange:
        line = getattr(node, "lineno", 1)
        end_line = getattr(node, "end_lineno", None) or line
        start = self.col(line, getattr(node, "col_offset", 0))
        end_col = getattr(node, "end_col_offset", None)
        end = self.col(end_line, end_col) if end_col is not None else start
        return SourceRange(self.path, line, start, end_line, end)

    def name_range(self, node: ast.ClassDef) -> SourceRange:
        text = self.lines[node.lineno - 1] if 0 < node.lineno <= len(self.lines) else ""
        match = re.search(r"\bclass\s+(" + re.escape(node.name) + r")\b", text)
        if match is None:
            return self.range(node)
        return SourceRange(self.path, node.lineno, match.start(1), node.lineno, match.end(1))


# -- scanning one file --------------------------------------------------------------------


def might_link(text: str) -> bool:
    """Cheap pre-filter: can this file hold a directive or a load call at all?"""
    return _TRIGGER.search(text) is not None


def scan_source(path: str, text: str, tree: ast.Module | None = None) -> FileScan:
    """Classes, directives and load calls of one file (`path` absolute; `tree`: its parse, when
    the caller has it). No error escapes: a file that does not parse gives `ok=False`."""
    if tree is None:
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return replace(EMPTY_SCAN, path=path)
    pos = _Positions(path, text)
    imports = _imports(tree)
    mapping_functions = {
        node.name: parsed
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and (parsed := _parsed_mapping(node)) is not None
    }
    # Text first: only the scopes and classes whose lines mention a load call or a hook are
    # walked node by node (a 1,000-line model file has ~30,000 nodes).
    site_lines = _lines_matching(pos.lines, _SITE_TRIGGER)
    hook_lines = _lines_matching(pos.lines, _HOOK_TRIGGER)
    classes: dict[str, ClassDecl] = {}
    directives: list[Link] = []
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in _statements(tree.body):
        if isinstance(node, ast.ClassDef):
            decl = _class_decl(node, pos, hook_lines)
            classes.setdefault(node.name, decl)
            directives.extend(_directives(node, decl, pos))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append(node)
    sites: list[LoadSite] = []
    if site_lines:
        module_consts = _string_constants(tree.body)
        scopes = [tree.body] + [
            f.body for f in functions if _holds_line(site_lines, f.lineno, f.end_lineno or f.lineno)
        ]
        for scope in scopes:
            finder = _SiteFinder(pos, imports, set(classes), mapping_functions, module_consts)
            sites.extend(finder.run(scope))
    return FileScan(path, classes, tuple(directives), tuple(sites), imports, mapping_functions)


_SITE_TRIGGER = re.compile(r"load_state_dict\b|load_from_checkpoint|from_pretrained")
_HOOK_TRIGGER = re.compile(r"load_state_dict_pre_hook")


def _lines_matching(lines: Sequence[str], pattern: re.Pattern[str]) -> list[int]:
    return [number for number, line in enumerate(lines, 1) if pattern.search(line)]


def _holds_line(lines: Sequence[int], first: int, last: int) -> bool:
    return any(first <= line <= last for line in lines)


def _statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without descending into expressions."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        nested: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody"):
            value = getattr(node, name, None)
            if isinstance(value, list):
                nested.extend(v for v in value if isinstance(v, ast.stmt))
        for handler in getattr(node, "handlers", ()):
            nested.extend(handler.body)
        for case in getattr(node, "cases", ()):
            nested.extend(case.body)
        stack.extend(reversed(nested))


def _parsed_mapping(node: ast.FunctionDef) -> ParsedMapping | None:
    """The generated mapping in `node`, if it has that form (cheap test first)."""
    if not any(
        isinstance(statement, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "STRIP_PREFIX" for t in statement.targets)
        for statement in node.body[:3]
    ):
        return None
    found = find_mapping_functions(ast.unparse(node))
    return replace(found[0], line=node.lineno) if found else None


def _imports(tree: ast.Module) -> dict[str, ImportRef]:
    out: dict[str, ImportRef] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = ImportRef(alias.name, 0, None)
                else:
                    top = alias.name.split(".")[0]
                    out[top] = ImportRef(top, 0, None)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = ImportRef(
                        node.module or "", node.level, alias.name
                    )
    return out


def _class_decl(node: ast.ClassDef, pos: _Positions, hook_lines: Sequence[int]) -> ClassDecl:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    body_indent = (
        " " * pos.col(node.body[0].lineno, node.body[0].col_offset) if node.body else "    "
    )
    methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    mapping = None
    for method in methods:
        if isinstance(method, ast.FunctionDef) and (parsed := _parsed_mapping(method)) is not None:
            mapping = parsed
            break
    last = node.end_lineno or node.lineno
    has_hook = _holds_line(hook_lines, first, last) and any(
        isinstance(sub, ast.Call)
        and isinstance(sub.func, ast.Attribute)
        and sub.func.attr in HOOK_REGISTRARS
        for method in methods
        for sub in ast.walk(method)
    )
    init = next((m for m in methods if m.name == "__init__"), None)
    init_lines = (init.lineno, init.end_lineno or init.lineno) if init is not None else None
    return ClassDecl(
        name=node.name,
        name_range=pos.name_range(node),
        first_line=first,
        last_line=node.end_lineno or node.lineno,
        body_indent=body_indent,
        mapping=mapping if has_hook else None,
        has_hook=has_hook,
        init_lines=init_lines,
    )


def parse_directive(body: str) -> tuple[dict[str, tuple[str, int, int]], dict[str, Any]]:
    """`checkpoint=x config=y init:k=v` -> ({name: (value, start, end)}, init). Offsets are
    of the value inside `body`, quotes excluded."""
    fields: dict[str, tuple[str, int, int]] = {}
    init: dict[str, Any] = {}
    for match in _DIRECTIVE_ITEM.finditer(body):
        key, value = match.group("key"), match.group("value")
        start, end = match.start("value"), match.end("value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value, start, end = value[1:-1], start + 1, end - 1
        if key.startswith("init:"):
            name = key[len("init:") :]
            if all(part.isidentifier() for part in name.split(".")):  # `init:config.n_layer=6` too
                init[name] = literal_or_string(value)
        elif key in ("checkpoint", "config") and key not in fields:
            fields[key] = (value, start, end)
    return fields, init


def literal_or_string(raw: str) -> Any:
    """`--init` semantics: a Python literal when it reads as one, else the string."""
    try:
        return ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


def _directive_lines(node: ast.ClassDef, decl: ClassDecl, lines: list[str]) -> Iterator[int]:
    """1-based lines that may hold the class's directive: the comment block directly above it
    (decorators may sit between) and the comments before its first statement."""
    line = decl.first_line - 1
    while line >= 1 and lines[line - 1].lstrip().startswith("#"):
        yield line
        line -= 1
    for line in range(decl.first_line, node.lineno):  # between decorators
        if lines[line - 1].lstrip().startswith("#"):
            yield line
    first_statement = node.body[0].lineno if node.body else node.lineno + 1
    for line in range(node.lineno + 1, min(first_statement, len(lines) + 1)):
        if lines[line - 1].lstrip().startswith("#"):
            yield line


def _directives(node: ast.ClassDef, decl: ClassDecl, pos: _Positions) -> list[Link]:
    out = []
    folder = os.path.dirname(pos.path)
    for line in sorted(set(_directive_lines(node, decl, pos.lines))):
        text = pos.lines[line - 1]
        match = _DIRECTIVE.match(text)
        if match is None:
            continue
        fields, init = parse_directive(match.group("body"))
        if "checkpoint" not in fields:
            continue
        value, start, end = fields["checkpoint"]
        offset = match.start("body")
        where = SourceRange(pos.path, line, offset + start, line, offset + end)
        out.append(
            Link(
                kind=DIRECTIVE,
                class_file=pos.path,
                class_name=node.name,
                checkpoint=value,
                search_dirs=(folder,),
                site_file=pos.path,
                path_range=where,
                literal_range=where,
                class_range=decl.name_range,
                init=tuple(init.items()),
                config=fields["config"][0] if "config" in fields else None,
            )
        )
    return out


def _scope_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node of a scope, nested function and class bodies excluded, in source order."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        out.append(node)
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


def _string_constants(body: list[ast.stmt]) -> dict[str, ast.expr]:
    """`NAME = "literal"` (or `Path("literal")`) assigned once in a block."""
    found: dict[str, ast.expr] = {}
    seen: set[str] = set()
    for node in body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None:
            continue
        if target.id in seen:
            found.pop(target.id, None)
            continue
        seen.add(target.id)
        if _path_literal(value) is not None:
            found[target.id] = value
    return found


def _path_literal(node: ast.expr) -> tuple[str, ast.expr] | None:
    """A path written as a literal: "x.pt", Path("x.pt"), os.path.join("a", "b")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, node
    if isinstance(node, ast.Call) and not node.keywords:
        name = _dotted(node.func)
        if (
            name
            and name.split(".")[-1] in ("Path", "PurePath", "PosixPath")
            and len(node.args) == 1
        ):
            inner = node.args[0]
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                return inner.value, inner
        if name in ("os.path.join", "path.join", "join") and node.args:
            parts = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            if len(parts) == len(node.args):
                return os.path.join(*parts), node
    return None


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    found = _keyword(call, name)
    if found is not None:
        return found
    if len(call.args) > index and not any(
        isinstance(a, ast.Starred) for a in call.args[: index + 1]
    ):
        return call.args[index]
    return None


class _SiteFinder:
    """Load calls in one scope, following simple assignments in order."""

    def __init__(
        self,
        pos: _Positions,
        imports: Mapping[str, ImportRef],
        local_classes: set[str],
        mapping_functions: Mapping[str, ParsedMapping],
        module_consts: Mapping[str, ast.expr],
    ) -> None:
        self.pos = pos
        self.imports = imports
        self.local_classes = local_classes
        self.mapping_functions = mapping_functions
        self.consts: dict[str, ast.expr] = dict(module_consts)
        self.models: dict[str, ast.Call] = {}  # variable -> the class instantiation
        self.loads: dict[str, ast.Call] = {}  # variable -> the torch.load / load_file call
        self.wrapped: dict[str, str] = {}  # variable -> mapping function applied to a load

    def qualify(self, node: ast.expr) -> str | None:
        """`T.load` -> `torch.load` when `import torch as T`; names of the file stay bare."""
        name = _dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        ref = self.imports.get(head)
        if ref is None or ref.level:
            return name
        base = f"{ref.module}.{ref.name}" if ref.name else ref.module
        return f"{base}.{rest}" if rest else base

    def is_loader(self, call: ast.Call) -> bool:
        return self.qualify(call.func) in _STATE_DICT_LOADERS

    def class_ref(self, node: ast.expr) -> tuple[str, ...] | None:
        name = _dotted(node)
        if name is None:
            return None
        parts = tuple(name.split("."))
        last = parts[-1]
        if not last[:1].isupper():  # classes by convention; keeps `model.load_state_dict` etc. out
            return None
        if len(parts) == 1 and parts[0] not in self.local_classes and parts[0] not in self.imports:
            return None
        return parts

    def instantiation(self, node: ast.expr) -> ast.Call | None:
        """`Net(...)`, `Net(...).to(device).eval()`."""
        while (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _CHAIN_METHODS
        ):
            node = node.func.value
        if isinstance(node, ast.Call) and self.class_ref(node.func) is not None:
            return node
        return None

    def path_of(self, node: ast.expr | None) -> tuple[str, ast.expr, ast.expr] | None:
        """(path, the expression at the call, the literal) for a literal or a constant name."""
        if node is None:
            return None
        found = _path_literal(node)
        if found is not None:
            return found[0], node, found[1]
        if isinstance(node, ast.Name) and node.id in self.consts:
            found = _path_literal(self.consts[node.id])
            if found is not None:
                return found[0], node, found[1]
        return None

    def find_load(self, node: ast.expr) -> tuple[ast.Call | None, str | None]:
        """The loader call feeding a state_dict expression, and a generated mapping around it."""
        mapping = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in self.mapping_functions
            and len(node.args) == 1
        ):
            mapping, node = node.func.id, node.args[0]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and self.is_loader(sub):
                return sub, mapping
            if isinstance(sub, ast.Name) and sub.id in self.loads:
                return self.loads[sub.id], mapping or self.wrapped.get(sub.id)
        return None, mapping

    def run(self, body: list[ast.stmt]) -> list[LoadSite]:
        events: list[tuple[tuple[int, int], int, ast.AST]] = []
        for node in _scope_nodes(body):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
                events.append((end, 1, node))
            elif isinstance(node, ast.Call):
                events.append(((node.lineno, node.col_offset), 0, node))
        events.sort(key=lambda e: (e[0], e[1]))
        sites: list[LoadSite] = []
        for _, _, node in events:
            if isinstance(node, ast.Call):
                site = self.site(node)
                if site is not None:
                    sites.append(site)
            else:
                self.bind(node)  # type: ignore[arg-type]
        return sites

    def bind(self, node: ast.Assign | ast.AnnAssign) -> None:
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                return
            target, value = node.targets[0], node.value
        else:
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None:
            return
        name = target.id
        for table in (self.models, self.loads, self.wrapped, self.consts):
            table.pop(name, None)
        made = self.instantiation(value)
        if made is not None:
            self.models[name] = made
            return
        inner: ast.expr = value
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id in self.mapping_functions
            and len(inner.args) == 1
        ):
            self.wrapped[name] = inner.func.id
            inner = inner.args[0]
        while isinstance(inner, ast.Subscript):
            inner = inner.value
        if isinstance(inner, ast.Call) and self.is_loader(inner):
            self.loads[name] = inner
        elif isinstance(inner, ast.Name) and inner.id in self.loads:
            self.loads[name] = self.loads[inner.id]
            if inner.id in self.wrapped:
                self.wrapped.setdefault(name, self.wrapped[inner.id])
        elif _path_literal(value) is not None:
            self.consts[name] = value
        else:
            self.wrapped.pop(name, None)

    def site(self, call: ast.Call) -> LoadSite | None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return None
        if func.attr == "load_state_dict":
            return self.load_state_dict_site(call, func.value)
        if func.attr in (LOAD_FROM_CHECKPOINT, FROM_PRETRAINED):
            ref = self.class_ref(func.value)
            if ref is None:
                return None
            name = (
                "checkpoint_path"
                if func.attr == LOAD_FROM_CHECKPOINT
                else "pretrained_model_name_or_path"
            )
            found = self.path_of(_argument(call, 0, name))
            if found is None:
                return None
            path, expr, literal = found
            init: list[tuple[str, Any]] = []
            if func.attr == LOAD_FROM_CHECKPOINT:
                for kw in call.keywords:
                    if kw.arg and kw.arg not in _LIGHTNING_LOAD_PARAMS:
                        ok, value = _literal(kw.value)
                        if ok:
                            init.append((kw.arg, value))
            strict = _keyword(call, "strict")
            return LoadSite(
                kind=func.attr,
                class_ref=ref,
                checkpoint=path,
                path_range=self.pos.range(expr),
                literal_range=self.pos.range(literal),
                call_range=self.pos.range(call),
                init=tuple(init),
                strict_false=isinstance(strict, ast.Constant) and strict.value is False,
                map_location=(_keyword(call, "map_location") is not None)
                if func.attr == LOAD_FROM_CHECKPOINT
                else None,
            )
        return None

    def load_state_dict_site(self, call: ast.Call, owner: ast.expr) -> LoadSite | None:
        made = (
            self.models.get(owner.id) if isinstance(owner, ast.Name) else self.instantiation(owner)
        )
        if made is None or not call.args:
            return None
        ref = self.class_ref(made.func)
        if ref is None:
            return None
        state_arg = call.args[0]
        loader, mapping = self.find_load(state_arg)
        if loader is None:
            return None
        is_torch = self.qualify(loader.func) == "torch.load"
        found = self.path_of(_argument(loader, 0, "f" if is_torch else "filename"))
        if found is None:
            return None
        path, expr, literal = found
        init: list[tuple[str, Any]] = []
        positional: list[tuple[int, Any]] = []
        for index, arg in enumerate(made.args):
            if isinstance(arg, ast.Starred):
                break
            ok, value = _literal(arg)
            if ok:
                positional.append((index, value))
        for kw in made.keywords:
            if kw.arg:
                ok, value = _literal(kw.value)
                if ok:
                    init.append((kw.arg, value))
        strict = _argument(call, 1, "strict")
        map_location = None
        if is_torch:
            map_location = _argument(loader, 1, "map_location") is not None
        return LoadSite(
            kind=LOAD_STATE_DICT,
            class_ref=ref,
            checkpoint=path,
            path_range=self.pos.range(expr),
            literal_range=self.pos.range(literal),
            call_range=self.pos.range(call),
            init=tuple(init),
            init_positional=tuple(positional),
            strict_false=isinstance(strict, ast.Constant) and strict.value is False,
            map_location=map_location,
            state_arg_range=self.pos.range(state_arg),
            site_mapping=self.mapping_functions.get(mapping) if mapping else None,
        )


# -- pyproject.toml and the setting -------------------------------------------------------


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


# -- checkpoints --------------------------------------------------------------------------


def default_hf_cache() -> str:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache", "huggingface"
    )
    return os.path.join(home, "hub")


def hub_snapshot(hub_id: str, cache_dir: str) -> str | None:
    """The local snapshot folder of a hub model (`refs/main` first, else the newest)."""
    folder = os.path.join(cache_dir, "models--" + hub_id.replace("/", "--"))
    if not os.path.isdir(folder):
        return None
    try:
        with open(os.path.join(folder, "refs", "main"), encoding="utf-8") as handle:
            revision = handle.read().strip()
        candidate = os.path.join(folder, "snapshots", revision)
        if revision and os.path.isdir(candidate):
            return candidate
    except OSError:
        pass
    snapshots = [p for p in glob.glob(os.path.join(folder, "snapshots", "*")) if os.path.isdir(p)]
    return max(snapshots, key=os.path.getmtime) if snapshots else None


def resolve_checkpoint(link: Link, hf_cache: str | None = None) -> Resolution:
    return resolve_path(
        link.checkpoint, link.search_dirs, hub=link.kind == FROM_PRETRAINED, hf_cache=hf_cache
    )


def resolve_path(
    written: str, search_dirs: Sequence[str], *, hub: bool = False, hf_cache: str | None = None
) -> Resolution:
    if is_remote(written):  # hf://, s3://, https://...: read by ranges when checked
        return Resolution(written, (written,))
    expanded = os.path.expanduser(os.path.expandvars(written))
    candidates = (
        [expanded] if os.path.isabs(expanded) else [os.path.join(d, expanded) for d in search_dirs]
    )
    candidates = list(dict.fromkeys(os.path.normpath(c) for c in candidates))
    for candidate in candidates:
        if os.path.exists(candidate):
            return Resolution(candidate, tuple(candidates))
    if hub and _HUB_ID.match(written) and not written.endswith(_CHECKPOINT_SUFFIXES):
        cache = hf_cache or default_hf_cache()
        snapshot = hub_snapshot(written, cache)
        if snapshot is not None:
            return Resolution(snapshot, (*candidates, snapshot))
        # Not cached: read from the Hub by ranges (headers only). When the Hub cannot be
        # reached (offline), the read's error becomes `hub-not-cached` (load_site_rules).
        return Resolution(
            hub_ref(written),
            (*candidates, os.path.join(cache, "models--" + written.replace("/", "--"))),
            hub_id=written,
        )
    return Resolution(None, tuple(candidates))


# -- the workspace ------------------------------------------------------------------------


@dataclass
class _Cached:
    stamp: tuple[Any, ...]
    scan: FileScan


@dataclass
class WorkspaceIndex:
    """The links of a workspace, from every .py file (scanned lazily, cached by content) plus
    pyproject.toml and the setting. Not thread-safe: one owner calls it."""

    roots: list[str]
    find_module: Callable[[str, str, int], str | None]
    max_files: int = 5000
    # The engine's parse of (path, text), shared so that a file is parsed once; None: parse here.
    parse: Callable[[str, str], ast.Module | None] | None = None
    excludes: frozenset[str] = DEFAULT_EXCLUDES
    _scans: dict[str, _Cached] = field(default_factory=dict)
    _files: list[str] | None = None
    _files_at: float = 0.0
    _mentions: dict[str, tuple[tuple[int, int], bool]] = field(default_factory=dict)
    _resolved: dict[tuple[str, tuple[str, ...]], tuple[str, ClassDecl] | None] = field(
        default_factory=dict
    )
    _pyproject: dict[str, tuple[tuple[int, int], list[Link], list[str]]] = field(
        default_factory=dict
    )

    def invalidate(self, path: str | None = None) -> None:
        """Forget the file list (a file appeared or went) and class resolutions."""
        self._files = None
        self._resolved.clear()
        if path is not None:
            self._scans.pop(path, None)

    def root_for(self, path: str) -> str | None:
        best = None
        for root in self.roots:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                if best is None or len(root) > len(best):
                    best = root
        return best

    def python_files(self) -> list[str]:
        """The workspace's .py files; listed again after `invalidate` or FILES_TTL seconds
        (clients without file watchers never say that a file appeared)."""
        if self._files is not None and time.monotonic() - self._files_at > FILES_TTL:
            self._files = None
        if self._files is None:
            self._files_at = time.monotonic()
            files: list[str] = []
            for root in self.roots:
                for folder, dirs, names in os.walk(root):
                    dirs[:] = sorted(
                        d for d in dirs if d not in self.excludes and not d.startswith(".")
                    )
                    files.extend(
                        os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")
                    )
                    if len(files) >= self.max_files:
                        break
            self._files = files[: self.max_files]
        return self._files

    def scan(self, path: str, overlays: Mapping[str, str]) -> FileScan:
        text = overlays.get(path)
        if text is not None:
            stamp: tuple[Any, ...] = ("text", hash(text), len(text))
        else:
            try:
                st = os.stat(path)
            except OSError:
                self._scans.pop(path, None)
                return replace(EMPTY_SCAN, path=path)
            stamp = ("disk", st.st_mtime_ns, st.st_size)
        cached = self._scans.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached.scan
        if text is None:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError:
                return replace(EMPTY_SCAN, path=path)
        tree = None
        if self.parse is not None:
            tree = self.parse(path, text)
        scan = scan_source(path, text, tree)
        if not scan.ok and cached is not None and cached.scan.ok:
            scan = replace(cached.scan, stale=True)  # keep the last good scan while typing
        self._scans[path] = _Cached(stamp, scan)
        if len(self._scans) > 4 * self.max_files:
            self._scans.pop(next(iter(self._scans)))
        return scan

    def resolve_class(
        self, ref: tuple[str, ...], from_file: str, overlays: Mapping[str, str], depth: int = 0
    ) -> tuple[str, ClassDecl] | None:
        """The workspace file and declaration of a class named by `ref` in `from_file`."""
        key = (from_file, ref)
        if depth == 0 and key in self._resolved:
            return self._resolved[key]
        found = self._resolve_class(ref, from_file, overlays, depth)
        if depth == 0:
            self._resolved[key] = found
        return found

    def _resolve_class(
        self, ref: tuple[str, ...], from_file: str, overlays: Mapping[str, str], depth: int
    ) -> tuple[str, ClassDecl] | None:
        if depth > 4:
            return None
        scan = self.scan(from_file, overlays)
        head = ref[0]
        if len(ref) == 1 and head in scan.classes:
            return from_file, scan.classes[head]
        imported = scan.imports.get(head)
        if imported is None:
            return None
        if imported.name is not None and len(ref) == 1:
            module_file = self.find_module(imported.module, from_file, imported.level)
            target: tuple[str, ...] = (imported.name,)
            if module_file is None:  # `from pkg import module` then `module.Net`
                return None
        else:
            dotted = ".".join(
                [imported.module, *([imported.name] if imported.name else []), *ref[1:-1]]
            )
            module_file = self.find_module(dotted.strip("."), from_file, imported.level)
            target = (ref[-1],)
        if module_file is None or not self.in_workspace(module_file, overlays):
            return None
        return self.resolve_class(target, module_file, overlays, depth + 1)

    def in_workspace(self, path: str, overlays: Mapping[str, str]) -> bool:
        return path in overlays or self.root_for(path) is not None

    def pyproject_links(self) -> tuple[list[Link], list[str]]:
        links: list[Link] = []
        problems: list[str] = []
        for root in self.roots:
            path = os.path.join(root, "pyproject.toml")
            try:
                st = os.stat(path)
            except OSError:
                self._pyproject.pop(path, None)
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._pyproject.get(path)
            if cached is None or cached[0] != stamp:
                found, errors = read_pyproject_links(path)
                cached = (stamp, found, errors)
                self._pyproject[path] = cached
            links.extend(cached[1])
            problems.extend(cached[2])
        return links, problems

    def may_link(self, path: str) -> bool:
        """Whether a file on disk mentions a load call or a directive at all: most files do
        not, and are never parsed unless a link names a class in them."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._mentions.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                found = might_link(handle.read())
        except OSError:
            found = False
        self._mentions[path] = (stamp, found)
        return found

    def links(
        self,
        overlays: Mapping[str, str],
        setting_tables: Sequence[Any] = (),
        *,
        scan_files: bool = True,
    ) -> tuple[list[Link], list[str]]:
        """Every link of the workspace, with class files and declarations checked; problems
        (bad pyproject tables or settings) as one-line messages."""
        out: list[Link] = []
        self._resolved.clear()  # resolutions hold within one call: other files may change
        found, problems = self.pyproject_links()
        root = self.roots[0] if self.roots else os.getcwd()
        from_setting, setting_problems = (
            links_from_tables(
                list(setting_tables), root, kind=SETTING, origin="the ckptlens.links setting"
            )
            if setting_tables
            else ([], [])
        )
        problems.extend(setting_problems)
        for link in [*found, *from_setting]:
            decl = self.scan(link.class_file, overlays).classes.get(link.class_name)
            if decl is None:
                problems.append(f"{link.origin}: no class `{link.class_name}` in {link.class_file}")
                continue
            out.append(replace(link, class_range=decl.name_range))
        files = list(dict.fromkeys([*overlays, *(self.python_files() if scan_files else ())]))
        for path in files:
            if not path.endswith(".py") or (path not in overlays and not self.may_link(path)):
                continue
            scan = self.scan(path, overlays)
            out.extend(scan.directives)
            for site in scan.sites:
                resolved = self.resolve_class(site.class_ref, path, overlays)
                if resolved is None:
                    continue
                class_file, decl = resolved
                folder = os.path.dirname(path)
                workspace = self.root_for(path)
                out.append(
                    Link(
                        kind=site.kind,
                        class_file=class_file,
                        class_name=decl.name,
                        checkpoint=site.checkpoint,
                        search_dirs=tuple(
                            dict.fromkeys([*([workspace] if workspace else []), folder])
                        ),
                        site_file=path,
                        path_range=site.path_range,
                        literal_range=site.literal_range,
                        class_range=decl.name_range,
                        init=site.init,
                        init_positional=site.init_positional,
                        strict_false=site.strict_false,
                        map_location=site.map_location,
                        call_range=site.call_range,
                        state_arg_range=site.state_arg_range,
                        site_mapping=site.site_mapping,
                    )
                )
        unique: dict[str, Link] = {}
        for link in out:
            unique.setdefault(link.key, link)
        return list(unique.values()), problems

    def class_decl(self, path: str, name: str, overlays: Mapping[str, str]) -> ClassDecl | None:
        return self.scan(path, overlays).classes.get(name)
