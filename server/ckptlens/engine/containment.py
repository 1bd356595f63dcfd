"""Containing a failure to the part of the model being built (issue: real-world coverage).

When one statement of a constructor cannot be followed — the interpreted code raises where the
real one would not, a budget runs out, a construct is unsupported — only what that statement
builds becomes unknown: the attribute or container item it assigns, the submodule an
`add_module` call registers, the list item an `append` adds. The rest of the model is still
predicted. What the statement might have changed besides is made unknown too, never guessed:
what its calls were handed (lists, objects, other modules), and plain attributes and members of
`self` that its methods write (`self.inplanes`, `self.head`). A failed call on `self` itself
that is not one of those single-member operations is not contained: the module it was building
is unknown as a whole.

The functions here take the interpreter as their first argument and touch only its public
operations (`eval`, `setattr`, `setitem`, `mro`, ...).
"""

from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING, Any

from ckptlens.engine.objects import ClassRef, ModuleValue, ObjectValue
from ckptlens.engine.values import Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.runtime import Runtime

INDEXED = ("ModuleList", "Sequential", "ParameterList")
_PLAIN = (int, float, str, bool, tuple, list, type(None))


def display_path(path: str) -> str:
    """A library file as `timm/layers/mlp.py`, a user's file by its name."""
    for marker in ("site-packages", "dist-packages"):
        head, sep, tail = path.rpartition(os.sep + marker + os.sep)
        if sep:
            return tail.replace(os.sep, "/")
    return os.path.basename(path)


def location(stmt: ast.stmt, frame: Frame) -> str:
    return f"{display_path(frame.scope.source.path)}:{stmt.lineno}"


def contain(interp: Runtime, stmt: ast.stmt, frame: Frame, reason: str) -> bool | Unknown:
    """Make what `stmt` builds unknown after it failed for `reason`. False when the statement
    builds nothing that can be singled out (the failure then reaches the enclosing statement);
    an Unknown when the statement was a `return`: the function returns it."""
    current = frame.func.node if frame.func is not None else None
    receiver = frame.locals.get("self")
    if isinstance(stmt, ast.Return):
        if stmt.value is not None and not _suspects(interp, stmt.value, frame, reason):
            return False
        outcome: bool | Unknown = Unknown(reason, maybe_module=True)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            return False
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if not all(_poison(interp, target, frame, reason) for target in targets):
            return False
        if stmt.value is not None and not _suspects(interp, stmt.value, frame, reason):
            return False
        outcome = True
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        if not _contain_call(interp, stmt.value, frame, reason):
            return False
        outcome = True
    else:
        return False
    if isinstance(receiver, ModuleValue):
        stale_members(interp, receiver, reason, current)
    return outcome


def _quiet_eval(interp: Runtime, node: ast.expr, frame: Frame) -> Any:
    """Evaluate a cheap sub-expression (a name, `self.layers`) again; None if that fails too."""
    if not isinstance(node, (ast.Name, ast.Attribute, ast.Constant, ast.Subscript, ast.JoinedStr)):
        return None
    try:
        with interp.unbudgeted():
            return interp.eval(node, frame)
    except Exception:  # noqa: BLE001 - the statement already failed; this is best effort
        return None


def _poison(interp: Runtime, target: ast.expr, frame: Frame, reason: str) -> bool:
    unknown = Unknown(reason, maybe_module=True)
    if isinstance(target, ast.Name):
        frame.locals[target.id] = unknown
        return True
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_poison(interp, elt, frame, reason) for elt in target.elts)
    if isinstance(target, ast.Starred):
        return _poison(interp, target.value, frame, reason)
    where = frame.scope.source.range_of(target)
    if isinstance(target, ast.Attribute):
        obj = _quiet_eval(interp, target.value, frame)
        if not isinstance(obj, (ModuleValue, ObjectValue)):
            return False
        interp.setattr(obj, target.attr, unknown, where)
        return True
    if isinstance(target, ast.Subscript):
        obj = _quiet_eval(interp, target.value, frame)
        key = _quiet_eval(interp, target.slice, frame)
        if isinstance(obj, ModuleValue):
            interp.setitem(obj, key if key is not None else unknown, unknown, where)
            return True
        if isinstance(obj, (list, dict)) and key is not None and not is_unknown(key):
            try:
                obj[key] = unknown
            except (IndexError, KeyError, TypeError):
                return False
            return True
    return False


def _contain_call(interp: Runtime, call: ast.Call, frame: Frame, reason: str) -> bool:
    """A call statement that failed. Where its effect is one member or one item (`append`,
    `add_module`, `register_buffer`, `setattr` with a known name) only that becomes unknown.
    Otherwise what it was handed is suspect: see `_suspects`. A method of `self` (or of its
    bases through `super()`) that failed may have changed anything of `self`: not contained."""
    func = call.func
    me = frame.locals.get("self")
    anchor = interp.anchors[-1] if interp.anchors else frame.scope.source.range_of(call)
    args = [_quiet_eval(interp, a, frame) for a in call.args if not isinstance(a, ast.Starred)]
    if isinstance(func, ast.Attribute):
        if not isinstance(func.value, (ast.Name, ast.Attribute, ast.Subscript)):
            return False  # `super().__init__(...)`, `make().setup()`: the receiver is unknown
        receiver = _quiet_eval(interp, func.value, frame)
        method = func.attr
        if isinstance(receiver, ModuleValue):
            if _contain_module_call(interp, receiver, method, args, reason, anchor):
                return True
            if receiver is me:
                return False
        elif isinstance(receiver, list) and method == "append":
            receiver.append(Unknown(reason, maybe_module=True))  # later items keep their index
            return True
        elif receiver is None or is_unknown(receiver):
            return False
    elif isinstance(func, ast.Name) and func.id == "setattr" and len(args) >= 2:
        obj, name = args[0], args[1]
        if isinstance(obj, ModuleValue) and isinstance(name, str):
            interp.setattr(obj, name, Unknown(reason, maybe_module=True), anchor)
            return True
    return _suspects(interp, call, frame, reason)


def _suspects(interp: Runtime, node: ast.AST, frame: Frame, reason: str) -> bool:
    """What the calls in a failed statement were handed may have been changed before the
    failure: plain containers and objects held by a local name become unknown, modules other
    than `self` become unknown parts. False when `self` itself was handed to a call (it may
    have been changed in any way); `self.method(...)` is left to `stale_members`."""
    me = frame.locals.get("self")
    for call in _calls(node):
        receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
        operands = [*call.args, *(k.value for k in call.keywords)]
        if receiver is not None:
            operands.append(receiver)
        for operand in operands:
            if isinstance(operand, ast.Starred):
                operand = operand.value
            if not isinstance(operand, (ast.Name, ast.Attribute, ast.Subscript)):
                continue
            value = _quiet_eval(interp, operand, frame)
            if isinstance(value, ModuleValue):
                if value is me:
                    if operand is receiver:
                        continue
                    return False
                value.opaque = value.opaque or f"a call it was handed failed ({reason})"
            elif isinstance(value, (list, dict, ObjectValue)) and isinstance(operand, ast.Name):
                frame.locals[operand.id] = Unknown(reason, maybe_module=True)
    return True


def _calls(node: ast.AST) -> list[ast.Call]:
    """The calls of a statement, not those inside lambdas."""
    out: list[ast.Call] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            continue
        if isinstance(current, ast.Call):
            out.append(current)
        stack.extend(ast.iter_child_nodes(current))
    return out


def _contain_module_call(
    interp: Runtime, module: ModuleValue, method: str, args: list[Any], reason: str, anchor: Any
) -> bool:
    unknown = Unknown(reason, maybe_module=True)
    name = args[0] if args else None
    if method == "append" and module.container in INDEXED:
        table = module.params if module.container == "ParameterList" else module.children
        interp.add_item(module, str(len(table) + len(module.uncertain)), unknown)
        return True
    if method in ("add_module", "register_module") and isinstance(name, str):
        interp.setattr(module, name, unknown, anchor)
        return True
    if method in ("register_buffer", "register_parameter") and isinstance(name, str):
        module.uncertain[name] = reason
        return True
    if module.container in INDEXED and method in ("extend", "insert", "__iadd__"):
        module.opaque = module.opaque or reason  # the indices of what follows are unknown
        return True
    return False


def stale_members(interp: Runtime, module: ModuleValue, reason: str, current: Any = None) -> None:
    """What the code that failed may have written on `module` through its methods
    (`self.inplanes` in a ResNet's `_make_layer`, `self.head` in `reset_classifier`) is unknown
    afterwards, never stale: plain attributes become Unknown, members become unknown parts."""
    if module.cls is None:
        return
    for name in _written_by_methods(interp, module.cls, current):
        found, _ = module.member(name)
        if found:
            interp.setattr(module, name, Unknown(f"it may have been changed by code the analysis could not follow ({reason})", maybe_module=True), None)
        elif isinstance(module.attrs.get(name), _PLAIN):
            module.attrs[name] = Unknown(
                f"`self.{name}` may have been changed by code the analysis could not follow ({reason})"
            )


def _written_by_methods(interp: Runtime, cls: ClassRef, current: Any) -> list[str]:
    names: dict[str, None] = {}
    for klass in interp.mro(cls):
        if not isinstance(klass, ClassRef):
            continue
        for stmt in klass.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt is not current and stmt.name != "__init__":
                names.update(dict.fromkeys(_self_writes(stmt)))
    return list(names)


def _self_writes(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    params = [*func.args.posonlyargs, *func.args.args]
    if not params:
        return []
    me = params[0].arg
    out = []
    for node in ast.walk(func):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == me:
                out.append(target.attr)
    return out
