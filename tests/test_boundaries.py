"""The engine stays pure (no torch, pygls or lsprotocol) and the CLI starts light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compare_helpers import SPEC_FINDING_FIELDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pygls", "lsprotocol", "numpy", "libcst", "lightning", "transformers",
         "huggingface_hub", "fsspec", "s3fs", "gcsfs", "adlfs")  # remote libraries: imported only when used


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import ckptlens.cli",
        "import ckptlens.api",
        "import ckptlens.engine.compare, ckptlens.engine.predict, ckptlens.checkpoint.reader",
        "import ckptlens.render.check, ckptlens.render.map, ckptlens.render.keys, ckptlens.render.inspect, ckptlens.engine.mapping_code",
    ],
)
def test_engine_and_cli_import_no_heavy_package(statement: str) -> None:
    loaded = _modules_after(statement)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_engine_sources_never_import_adapters() -> None:
    """Only ckptlens/lsp may import pygls/lsprotocol; nothing in server/ imports torch."""
    for path in (ROOT / "server" / "ckptlens").rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(ROOT / "server" / "ckptlens").as_posix()
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped.startswith(("import ", "from ")):
                continue
            root = stripped.split()[1].split(".")[0]
            assert root != "torch", f"{rel}: {stripped}"
            if not rel.startswith("lsp/"):
                assert root not in ("pygls", "lsprotocol"), f"{rel}: {stripped}"


def test_check_on_the_shipped_example_end_to_end() -> None:
    example = ROOT / "fixtures" / "examples"
    run = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", str(example / "mlp.py"), "--class", "MLP",
         "--checkpoint", str(example / "mlp_module_prefix.pt"), "--format", "json"],
        capture_output=True, text=True,
    )
    assert run.returncode == 1, run.stderr
    findings = json.loads(run.stdout)["findings"]
    assert [(f["code"], f["line"], f["column"], f["checkpoint_prefix"], f["model_prefix"]) for f in findings] == [
        ("key-prefix", 6, 7, "module", None),
        ("renamed-module", 9, 9, "layer1", "layer_1"),
    ]
    for finding in findings:
        assert list(finding) == SPEC_FINDING_FIELDS
    clean = subprocess.run(
        [sys.executable, "-m", "ckptlens", "check", str(example / "mlp.py"), "--class", "MLP",
         "--checkpoint", str(example / "mlp.pt"), "--format", "json"],
        capture_output=True, text=True,
    )
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout) == {
        "findings": [],
        "coverage": {"tensors": 4, "checked": 4, "keys_only": 0, "unchecked": 0},
        "inferred": {},  # SPEC §5: always present; every value is given here
        # beside the SPEC fields: the constructor values used and their sources
        "constructor": {
            "in_features": {"value": 10, "source": "default"},
            "hidden": {"value": 20, "source": "default"},
            "num_classes": {"value": 2, "source": "default"},
        },
    }


ADAPTERS = ("cli.py", "lsp/", "workspace_check.py")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (relative imports resolved)."""
    import ast

    package = ".".join(("ckptlens", *path.relative_to(ROOT / "server" / "ckptlens").parent.parts))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_adapters_reach_the_engine_only_through_the_api() -> None:
    """The CLI, the language server and the workspace check call `ckptlens.api`; none of them
    imports `ckptlens.engine` (the comparer, the loader, the mapping code, ...) around it."""
    checked = []
    for path in sorted((ROOT / "server" / "ckptlens").rglob("*.py")):
        rel = path.relative_to(ROOT / "server" / "ckptlens").as_posix()
        if not rel.startswith(ADAPTERS):
            continue
        checked.append(rel)
        around = sorted(m for m in _imported_modules(path) if m.startswith("ckptlens.engine"))
        assert around == [], f"{rel} imports {around}"
    assert "cli.py" in checked and "lsp/server.py" in checked and "lsp/analysis.py" in checked


# -- import cycles ----------------------------------------------------------------------------

def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (at the top or inside functions;
    `if TYPE_CHECKING:` blocks never run and are left out)."""
    import ast

    base = package_dir.name
    modules: dict[str, Path] = {}
    for path in package_dir.rglob("*.py"):
        parts = [base, *path.relative_to(package_dir).with_suffix("").parts]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def targets(name: str, path: Path) -> set[str]:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text())]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    stack.extend(child.orelse)
                    continue
                if isinstance(child, ast.Import):
                    found.update(a.name for a in child.names if a.name in modules)
                elif isinstance(child, ast.ImportFrom):
                    source = child.module or ""
                    if child.level:
                        parts = package.split(".")
                        source = ".".join(parts[: len(parts) - child.level + 1] + ([source] if source else []))
                    for alias in child.names:
                        full = f"{source}.{alias.name}"
                        found.add(full if full in modules else source)
                stack.append(child)
        return {m for m in found if m in modules and m != name}

    graph = {name: targets(name, path) for name, path in modules.items()}
    # Importing `a.b.c` runs `a/b/__init__.py` first: an edge to every enclosing package the
    # importer is not itself inside (Python's own order, so a package `__init__` that imports
    # its parts closes a loop through any part that imports a sibling)
    for name, found in graph.items():
        for target in list(found):
            parts = target.split(".")
            for i in range(2, len(parts)):
                package = ".".join(parts[:i])
                if package in modules and not name.startswith(package + "."):
                    found.add(package)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(frozenset(component))
    return cycles


def test_the_cycle_finder_sees_a_loop_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (package / "c.py").write_text("import pkg.a\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.d\n")
    (package / "d.py").write_text("from pkg import c\n")
    graph = import_graph(package)
    assert graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}  # `from pkg.sub import b` runs pkg/sub/__init__
    assert import_cycles(graph) == [frozenset({"pkg.a", "pkg.sub.b", "pkg.c"})]


def test_no_import_cycle_in_the_package() -> None:
    """No module of server/ckptlens imports itself again, directly or through others, at the top
    or inside a function: the interpreter's tables depend on `interp.runtime.Runtime`, never on
    `Interpreter`, and the layer catalog's row files never import the catalog built from them."""
    graph = import_graph(ROOT / "server" / "ckptlens")
    assert "ckptlens.workspace.index" in graph and "ckptlens.engine.interp.runtime" in graph["ckptlens.engine.interp.host"]
    assert import_cycles(graph) == []


def test_no_import_cycle_between_the_packages() -> None:
    """Folded to `ckptlens.<top>` (engine, checkpoint, workspace, fixes, render, lsp, api, cli,
    ...), the import graph has no loop at all."""
    graph = import_graph(ROOT / "server" / "ckptlens")
    folded: dict[str, set[str]] = {}
    for module, targets in graph.items():
        top = ".".join(module.split(".")[:2])
        folded.setdefault(top, set())
        folded[top].update(".".join(t.split(".")[:2]) for t in targets)
    for top, targets in folded.items():
        targets.discard(top)
        targets.discard("ckptlens")  # the package's own __init__ (its version) imports nothing
    assert {"ckptlens.workspace", "ckptlens.fixes", "ckptlens.render", "ckptlens.engine"} <= set(folded)
    assert import_cycles(folded) == []


# -- file size --------------------------------------------------------------------------------

MAX_LINES = 800


def test_no_source_file_over_800_lines() -> None:
    """Every module of server/ckptlens stays readable in one sitting: at most 800 lines."""
    sizes = {
        path.relative_to(ROOT / "server" / "ckptlens").as_posix(): len(path.read_text().splitlines())
        for path in (ROOT / "server" / "ckptlens").rglob("*.py")
    }
    assert "engine/interp/interpreter.py" in sizes
    too_long = {rel: n for rel, n in sorted(sizes.items()) if n > MAX_LINES}
    assert too_long == {}


# -- render/: the words of every adapter, and nothing else ---------------------------------


def test_render_is_pure_and_knows_no_adapter() -> None:
    """`render/` turns engine and api values into text and markdown for the CLI and the language
    server alike: it imports no torch, pygls or lsprotocol (not even lazily), and none of the
    adapters that import it (`lsp/`, `cli.py`, `workspace_check.py`) outside type hints."""
    render = ROOT / "server" / "ckptlens" / "render"
    files = sorted(render.rglob("*.py"))
    assert {"hover.py", "lens.py", "status.py"} <= {p.name for p in files}
    for path in files:
        heavy = sorted(m for m in _imported_modules(path) if m.split(".")[0] in ("torch", "pygls", "lsprotocol"))
        assert heavy == [], f"render/{path.name} imports {heavy}"
    graph = import_graph(ROOT / "server" / "ckptlens")
    adapters = ("ckptlens.lsp", "ckptlens.cli", "ckptlens.workspace_check")
    for module, targets in sorted(graph.items()):
        if module.startswith("ckptlens.render"):
            reached = sorted(t for t in targets if t.startswith(adapters))
            assert reached == [], f"{module} imports {reached}"


def test_the_editor_words_import_nothing_heavy() -> None:
    loaded = _modules_after("import ckptlens.render.hover, ckptlens.render.lens, ckptlens.render.status")
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []


def test_the_language_server_builds_no_markdown_itself() -> None:
    """The hover's and the lenses' words come from `render/`: no file of `lsp/` writes a
    markdown table, bold code or a "✓ / ✗" lens title."""
    for path in sorted((ROOT / "server" / "ckptlens" / "lsp").rglob("*.py")):
        text = path.read_text()
        for marker in ("| --- |", "|---|", "**`", "✓", "✗"):
            assert marker not in text, f"lsp/{path.name} holds {marker!r}"


def test_no_private_name_crosses_a_file() -> None:
    """A name one module of ckptlens imports from another is public: no `from x import _name`
    (dunders such as `__version__` excepted), at the top or inside a function."""
    import ast

    crossing = []
    for path in sorted((ROOT / "server" / "ckptlens").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("ckptlens")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        crossing.append(f"{path.relative_to(ROOT).as_posix()}: {alias.name}")
    assert crossing == []


def test_no_source_of_ckptlens_compiles_or_runs_code() -> None:
    """ckptlens reads user code, it never runs it: no call of the builtins `compile`, `exec` or
    `eval` (nor `builtins.exec` and the like) anywhere in the package. (`re.compile` and the
    interpreter's own `interp.eval` method are attributes of other objects, not these builtins.)"""
    import ast

    runners = {"compile", "exec", "eval"}
    calls = []
    for path in sorted((ROOT / "server" / "ckptlens").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            by_name = isinstance(func, ast.Name) and func.id in runners
            by_module = (isinstance(func, ast.Attribute) and func.attr in runners and isinstance(func.value, ast.Name)
                         and func.value.id in ("builtins", "__builtins__"))
            if by_name or by_module:
                calls.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: {ast.unparse(func)}")
    assert calls == []
