"""torch.nn.utils functions that move a module's tensors to other keys: `prune.*` (`weight` ->
`weight_orig` + the buffer `weight_mask`), `parametrize.register_parametrization` (`weight` ->
`parametrizations.weight.original`), `parametrizations.orthogonal`, and the functions that undo
them (`prune.remove`, `remove_weight_norm`, `remove_spectral_norm`,
`parametrize.remove_parametrizations`). Each follows torch's own order of registration, since
`state_dict()` lists a module's parameters, then its buffers, then its children."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ckptlens.engine.objects import ModuleValue, opaque_module
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.runtime import Runtime

Call = Callable[["Runtime", list[Any], dict[str, Any]], Any]


def _arg(args: list[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _unfollowed(module: Any, what: str) -> Any:
    """A call on a module the analysis cannot follow: the module's keys become unknown."""
    if isinstance(module, ModuleValue) and module.opaque is None:
        module.opaque = what
    return module if isinstance(module, ModuleValue) else Unknown(what, maybe_module=True)


# -- parametrize ------------------------------------------------------------------------------


def parametrize(
    module: ModuleValue, name: str, originals: list[TensorValue], inner: ModuleValue, shape: Any = None
) -> ModuleValue:
    """`register_parametrization`'s effect, the first time `name` is parametrized: the tensor
    leaves the module and comes back as `parametrizations.<name>.original` (or `original0`,
    `original1`, ... when `right_inverse` returns several), the parametrization as item `0`."""
    tensor = module.params.pop(name, None) or module.buffers.pop(name, None)
    holder = module.children.get("parametrizations")
    if not isinstance(holder, ModuleValue):
        holder = ModuleValue(type_name="torch.nn.ModuleDict", container="ModuleDict", origin=module.origin)
        module.children["parametrizations"] = holder
    plist = ModuleValue(type_name="torch.nn.utils.parametrize.ParametrizationList", origin=module.origin)
    for i, original in enumerate(originals):  # a buffer's originals are buffers
        table = plist.params if original.is_parameter else plist.buffers
        table["original" if len(originals) == 1 else f"original{i}"] = original
    plist.children["0"] = inner
    # what `remove_parametrizations(..., leave_parametrized=True)` puts back
    plist.attrs["parametrized_shape"] = shape if shape is not None else (tensor.shape if tensor is not None else None)
    holder.children[name] = plist
    return plist


def _register_parametrization(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name = _arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "tensor_name")
    parametrization = _arg(args, kwargs, 2, "parametrization")
    if not isinstance(module, ModuleValue) or module.opaque or not isinstance(name, str):
        return _unfollowed(module, "a tensor is parametrized under an unknown name")
    holder = module.children.get("parametrizations")
    plist = holder.children.get(name) if isinstance(holder, ModuleValue) else None
    if isinstance(plist, ModuleValue):  # parametrized before: the new one is appended
        plist.children[str(len(plist.children))] = (
            parametrization if isinstance(parametrization, ModuleValue)
            else opaque_module("?", "the parametrization is unknown", interp.anchor())
        )
        return module
    tensor = module.params.get(name) or module.buffers.get(name)
    if tensor is None:
        return _unfollowed(module, f"`{name}` is parametrized but the module has no such tensor")
    if not isinstance(parametrization, ModuleValue):
        inner = opaque_module("?", "the parametrization is unknown", interp.anchor())
        parametrize(module, name, [TensorValue(tensor.shape, tensor.dtype, name in module.params)], inner)
        return module
    if parametrization.opaque is None and parametrization.cls is not None:
        found, _ = interp.class_attr(parametrization.cls, "right_inverse")
        if found:  # what `right_inverse` returns becomes the originals: not followed
            plist_reason = f"`{parametrization.type_name.split('.')[-1]}.right_inverse` is not followed"
            parametrize(module, name, [], parametrization).opaque = plist_reason
            return module
    parametrize(module, name, [TensorValue(tensor.shape, tensor.dtype, name in module.params)], parametrization)
    return module


def _remove_parametrizations(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name = _arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "tensor_name")
    leave = _arg(args, kwargs, 2, "leave_parametrized", True)
    holder = module.children.get("parametrizations") if isinstance(module, ModuleValue) else None
    plist = holder.children.get(name) if isinstance(holder, ModuleValue) and isinstance(name, str) else None
    if not isinstance(module, ModuleValue) or not isinstance(plist, ModuleValue) or plist.opaque or is_unknown(leave):
        return _unfollowed(module, "parametrizations are removed from a tensor the analysis cannot follow")
    originals = list(plist.params.values())
    if leave or len(originals) != 1:
        shape = plist.attrs.get("parametrized_shape")
        dtype = originals[0].dtype if originals and originals[0] is not None else "float32"
    else:
        first = originals[0]
        shape, dtype = (first.shape, first.dtype) if first is not None else (None, "float32")
    del holder.children[name]  # type: ignore[union-attr]
    if not holder.children:  # type: ignore[union-attr]
        del module.children["parametrizations"]
    module.params[name] = TensorValue(shape if isinstance(shape, tuple) else None, dtype, True)
    return module


def _orthogonal(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """`parametrizations.orthogonal` with its defaults on a square weight: `original` and the
    buffer `base`, both the weight's shape; any other case is not followed."""
    module, name = _arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "name", "weight")
    orthogonal_map = _arg(args, kwargs, 2, "orthogonal_map")
    trivial = kwargs.get("use_trivialization", True)
    if not isinstance(module, ModuleValue) or module.opaque or not isinstance(name, str):
        return _unfollowed(module, "`orthogonal` of a module the analysis cannot follow")
    tensor = module.params.get(name) or module.buffers.get(name)
    if tensor is None:
        return _unfollowed(module, f"`orthogonal` on `{name}`, which the module does not have")
    shape = tensor.shape
    square = shape is not None and len(shape) == 2 and shape[0] is not None and shape[0] == shape[1]
    inner = ModuleValue(type_name="torch.nn.utils.parametrizations._Orthogonal", origin=module.origin)
    if square and orthogonal_map in (None, "matrix_exp", "cayley") and trivial is True:
        inner.buffers["base"] = TensorValue(shape, tensor.dtype)
        parametrize(module, name, [TensorValue(shape, tensor.dtype, True)], inner)
        return module
    reason = "`orthogonal` of a non-square weight, or with other options, is not followed"
    parametrize(module, name, [], inner).opaque = reason
    return module


# -- prune ------------------------------------------------------------------------------------


def _prune_one(module: Any, name: Any) -> Any:
    """torch's `BasePruningMethod.apply`: the first time, `name` moves to the parameter
    `name_orig` (appended) and the buffer `name_mask` is registered; again, nothing moves."""
    if not isinstance(module, ModuleValue) or module.opaque or not isinstance(name, str):
        return _unfollowed(module, "a tensor the analysis cannot follow is pruned")
    if f"{name}_orig" in module.params and f"{name}_mask" in module.buffers:
        return module
    tensor = module.params.get(name)
    if tensor is None:
        return _unfollowed(module, f"`{name}` is pruned but the module has no such parameter")
    module.params[f"{name}_orig"] = tensor
    del module.params[name]
    module.buffers[f"{name}_mask"] = TensorValue(tensor.shape, tensor.dtype)
    return module


def _prune(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return _prune_one(_arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "name"))


def _global_unstructured(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    pairs = interp.iterate(_arg(args, kwargs, 0, "parameters"))
    if pairs is None:
        return Unknown("`global_unstructured` over parameters the analysis cannot follow")
    for pair in pairs:
        items = interp.iterate(pair)
        if items is None or len(items) != 2:
            continue
        _prune_one(items[0], items[1])
    return None


def _prune_remove(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name = _arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "name")
    if not isinstance(module, ModuleValue) or module.opaque or not isinstance(name, str):
        return _unfollowed(module, "pruning is removed from a tensor the analysis cannot follow")
    orig = module.params.pop(f"{name}_orig", None)
    module.buffers.pop(f"{name}_mask", None)
    if orig is None:
        return _unfollowed(module, f"pruning is removed from `{name}`, which was not pruned")
    module.params[name] = orig
    return module


# -- undoing weight_norm and spectral_norm ----------------------------------------------------


def _remove_weight_norm(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name = _arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "name", "weight")
    if not isinstance(module, ModuleValue) or module.opaque or not isinstance(name, str):
        return _unfollowed(module, "weight norm is removed from a module the analysis cannot follow")
    g, v = module.params.pop(f"{name}_g", None), module.params.pop(f"{name}_v", None)
    if g is None or v is None:
        return _unfollowed(module, f"weight norm is removed from `{name}`, which has none")
    module.params[name] = TensorValue(v.shape, v.dtype, True)
    return module


def _remove_spectral_norm(interp: Runtime, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module, name = _arg(args, kwargs, 0, "module"), _arg(args, kwargs, 1, "name", "weight")
    if not isinstance(module, ModuleValue) or module.opaque or not isinstance(name, str):
        return _unfollowed(module, "spectral norm is removed from a module the analysis cannot follow")
    orig = module.params.pop(f"{name}_orig", None)
    if orig is None:
        return _unfollowed(module, f"spectral norm is removed from `{name}`, which has none")
    module.buffers.pop(f"{name}_u", None)
    module.buffers.pop(f"{name}_v", None)
    module.attrs.pop(name, None)
    module.params[name] = TensorValue(orig.shape, orig.dtype, True)
    return module


_PRUNE = "torch.nn.utils.prune."
TENSOR_MOVES: dict[str, Call] = {
    **{_PRUNE + method: _prune for method in (
        "identity", "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
        "custom_from_mask",
    )},
    _PRUNE + "global_unstructured": _global_unstructured,
    _PRUNE + "remove": _prune_remove,
    "torch.nn.utils.parametrize.register_parametrization": _register_parametrization,
    "torch.nn.utils.parametrize.remove_parametrizations": _remove_parametrizations,
    "torch.nn.utils.parametrizations.orthogonal": _orthogonal,
    "torch.nn.utils.remove_weight_norm": _remove_weight_norm,
    "torch.nn.utils.weight_norm.remove_weight_norm": _remove_weight_norm,
    "torch.nn.utils.remove_spectral_norm": _remove_spectral_norm,
    "torch.nn.utils.spectral_norm.remove_spectral_norm": _remove_spectral_norm,
}
