"""Running the generated key mapping the way its docstring says, as a user would copy it.

The generated function's docstring ends with an indented block: the code that loads the
checkpoint file into `model` through the mapping (`model.load_state_dict(remap_state_dict(
torch.load(path)))`, or `model.load_state_dict(torch.load(path))` when a pre-hook applies it).
These helpers take that block out of the generated source and run it unchanged, with `model`,
`path` and `torch` bound, returning what its last line (the load_state_dict call) returns.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

_counter = itertools.count()


def docstring_code(source: str, function_name: str = "remap_state_dict") -> str:
    """The last indented block of the docstring of `function_name` in `source`, dedented."""
    tree = ast.parse(textwrap.dedent(source))
    function = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == function_name
    )
    doc = ast.get_docstring(function)
    assert doc is not None, f"{function_name} has no docstring"
    blocks = [
        block
        for block in doc.split("\n\n")
        if block.strip() and all(line.startswith("    ") for line in block.splitlines())
    ]
    assert blocks, f"no code block in the docstring:\n{doc}"
    return textwrap.dedent(blocks[-1])


def run_as_written(code: str, namespace: dict[str, Any]) -> Any:
    """Runs `code` in `namespace`; the value of its last line, an expression."""
    tree = ast.parse(code)
    *head, last = tree.body
    assert isinstance(last, ast.Expr), code
    exec(compile(ast.Module(body=head, type_ignores=[]), "<docstring>", "exec"), namespace)
    return eval(compile(ast.Expression(body=last.value), "<docstring>", "eval"), namespace)


def load_edited(source: str, original: Path, package: str | None = None) -> ModuleType:
    """`source` (an edited copy of the file `original`) imported under a fresh module name,
    beside the original: siblings and relative imports resolve as for the original."""
    stem = f"_ckptlens_edited_{original.stem}_{next(_counter)}"
    name = f"{package}.{stem}" if package else stem
    path = original.with_name(stem + ".py")
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    if package:
        module.__package__ = package
    sys.modules[name] = module  # dataclasses and pickling look classes up by module name
    exec(compile(source, str(original), "exec"), module.__dict__)
    return module
