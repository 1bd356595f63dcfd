"""The table of `nn.Module` methods the interpreter models (`add_module`, `register_buffer`,
`children`, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ckptlens.engine.dtype_names import DTYPE_ALIASES, UNKNOWN_DTYPE
from ckptlens.engine.interp.builtins_shared import b_setattr
from ckptlens.engine.interp.signals import Raised
from ckptlens.engine.objects import (
    AttrDict,
    ExternalRef,
    ModuleValue,
    mark_open,
    opaque_module,
    renumber,
)
from ckptlens.engine.values import TensorValue, Unknown, is_unknown

if TYPE_CHECKING:
    from ckptlens.engine.interp.frame import Frame
    from ckptlens.engine.interp.runtime import Runtime


ModuleMethod = Callable[["Runtime", ModuleValue, list[Any], dict[str, Any], "Frame | None"], Any]


def _arg(args: list[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _m_add_module(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    name, value = _arg(args, kwargs, 0, "name"), _arg(args, kwargs, 1, "module")
    if not isinstance(name, str):
        mark_open(module, "a submodule is added under an unknown name", interp.anchor())
        return None
    interp.module_setattr(module, name, value if value is not None else None, interp.anchor())
    if value is None:
        module.children[name] = None
    return None


def _m_register_buffer(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    name = _arg(args, kwargs, 0, "name")
    tensor = _arg(args, kwargs, 1, "tensor")
    persistent = _arg(args, kwargs, 2, "persistent", True)
    if not isinstance(name, str):
        mark_open(module, "a buffer is registered under an unknown name", interp.anchor())
        return None
    module.remove_member(name)
    if is_unknown(persistent):
        module.uncertain[name] = f"whether buffer `{name}` is persistent is unknown"
        return None
    if tensor is None:
        module.buffers[name] = None
    elif isinstance(tensor, TensorValue):
        module.buffers[name] = TensorValue(tensor.shape, tensor.dtype)
    else:
        module.buffers[name] = TensorValue(None, UNKNOWN_DTYPE)
    if not persistent:
        module.non_persistent.add(name)
    anchor = interp.anchor()
    if anchor is not None:
        module.tensor_origins[name] = anchor
    return None


def _m_register_parameter(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    name = _arg(args, kwargs, 0, "name")
    param = _arg(args, kwargs, 1, "param")
    if not isinstance(name, str):
        mark_open(module, "a parameter is registered under an unknown name", interp.anchor())
        return None
    module.remove_member(name)
    if param is None:
        module.params[name] = None
    elif isinstance(param, TensorValue):
        module.params[name] = TensorValue(param.shape, param.dtype, True)
    else:
        module.params[name] = TensorValue(None, UNKNOWN_DTYPE, True)
    anchor = interp.anchor()
    if anchor is not None:
        module.tensor_origins[name] = anchor
    return None


def _m_append(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.container not in ("ModuleList", "Sequential", "ParameterList"):
        return Unknown("append on a module")
    count = len(module.children) + len(module.uncertain)
    if module.container == "ParameterList":
        count += len(module.params)  # a module item sits among the parameters' indexes
    interp.add_item(module, str(count), args[0] if args else None)
    return module


def _m_extend(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    items = interp.iterate(args[0]) if args else []
    if items is None:
        module.opaque = module.opaque or "it is extended by an unknown iterable"
        return module
    for item in items:
        _m_append(interp, module, [item], {}, frame)
    return module


def _m_insert(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    numbered = list(module.children) == [str(i) for i in range(len(module.children))]
    if (
        len(args) != 2 or not isinstance(args[0], int) or module.container not in ("ModuleList", "Sequential")
        or not numbered or module.uncertain
    ):
        module.opaque = module.opaque or "an item is inserted at an unknown place"
        return None
    values = list(module.children.values())
    values.insert(args[0], args[1] if isinstance(args[1], ModuleValue) else opaque_module("?", "not a module"))
    module.children = {str(i): v for i, v in enumerate(values)}
    return None


def _m_update(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.container not in ("ModuleDict", "ParameterDict"):
        return None
    mapping = interp.as_mapping(args[0]) if args else kwargs
    if mapping is None:
        items = interp.iterate(args[0]) if args else None
        if items is None:
            module.opaque = module.opaque or "it is updated from unknown items"
            return None
        mapping = dict(items)
    for name, value in mapping.items():
        interp.add_item(module, str(name), value)
    return None


def _m_pop(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    """`ModuleDict.pop(key)`, `ModuleList.pop(i)`, `Sequential.pop(i)`, `ParameterDict.pop(key)`:
    the item leaves the container (the list-likes number theirs anew)."""
    key = _arg(args, kwargs, 0, "key")
    listed = module.container in ("ModuleList", "Sequential")
    table = module.params if module.container == "ParameterDict" else module.children
    if module.container not in ("ModuleList", "Sequential", "ModuleDict", "ParameterDict"):
        return unknown_method(interp, module, "pop")
    if module.opaque or module.uncertain or is_unknown(key):
        module.opaque = module.opaque or "an item is removed at an unknown place"
        return Unknown(module.opaque, maybe_module=True)
    names = list(table)
    if listed:
        if not isinstance(key, int) or isinstance(key, bool) or not -len(names) <= key < len(names):
            raise Raised(None, "`IndexError` popping an item")
        name = names[key]
    else:
        if not isinstance(key, str) or key not in table:
            raise Raised(None, "`KeyError` popping an item")
        name = key
    value = table[name]
    module.remove_member(name)
    if listed:
        renumber(module)
    return value


def _m_clear(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.container not in ("ModuleDict", "ParameterDict"):
        return unknown_method(interp, module, "clear")
    for name in [*module.children, *module.params, *module.uncertain]:
        module.remove_member(name)
    module.uncertain = {}
    return None


# nn.Module methods that read the module or register hooks without changing its keys
_READING_METHODS = frozenset({
    "named_parameters", "buffers", "named_buffers", "state_dict", "extra_repr", "get_parameter",
    "get_buffer", "get_extra_state", "forward", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_backward_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "_register_load_state_dict_pre_hook", "num_parameters", "get_input_embeddings",
    "get_output_embeddings", "gradient_checkpointing_enable", "set_grad_checkpointing",
    "xpu", "mps", "ipu", "to_empty", "compile", "__repr__", "__str__", "__len__", "__iter__",
    "keys", "values", "items", "index",
})


def unknown_method(interp: Runtime, module: ModuleValue, name: str) -> Any:
    """A method the analysis does not model, called on a module: it may add members (unless
    it only reads the module)."""
    if name in _READING_METHODS:
        return Unknown(f"`{module.type_name.split('.')[-1]}.{name}` is not known to the analysis")
    mark_open(module, f"`{module.type_name.split('.')[-1]}.{name}` is called on it and is not followed", interp.anchor())
    return Unknown(f"`{module.type_name.split('.')[-1]}.{name}` is not known to the analysis")


def _walk_modules(module: ModuleValue, prefix: str = "") -> list[tuple[str, ModuleValue]]:
    out = [(prefix, module)]
    for name, child in module.children.items():
        if child is not None:
            out.extend(_walk_modules(child, f"{prefix}.{name}" if prefix else name))
    return out


def _m_children(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.opaque:
        return Unknown(module.opaque, )
    return [c for c in module.children.values() if c is not None]


def _m_named_children(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    if module.opaque:
        return Unknown(module.opaque)
    return [(n, c) for n, c in module.children.items() if c is not None]


def _m_modules(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    walked = _walk_modules(module)
    if any(m.opaque for _, m in walked):
        return Unknown("the module tree has unknown parts")
    return [m for _, m in walked]


def _m_named_modules(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    walked = _walk_modules(module)
    if any(m.opaque for _, m in walked):
        return Unknown("the module tree has unknown parts")
    return list(walked)


def _m_parameters(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    walked = _walk_modules(module)
    if any(m.opaque for _, m in walked):
        return Unknown("the module tree has unknown parts")
    return [t for _, m in walked for t in m.params.values() if t is not None]


def _m_named_parameters(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    """`module.named_parameters()` of a fully known module tree: (dotted name, parameter) in
    torch's order (microsoft/LoRA's ConvLoRA re-registers its conv's parameters on itself).
    Unknown when any part may hold other parameters, or when one tensor value sits in two places
    (torch drops a tied duplicate; the analysis cannot tell a tie from a shared value)."""
    if args or set(kwargs) - {"recurse"} or kwargs.get("recurse", True) is not True:
        return Unknown("`named_parameters` with arguments")
    walked = _walk_modules(module)
    if any(m.opaque or m.uncertain or m.open or m.sym_items is not None for _, m in walked):
        return Unknown("the module tree has unknown parts")
    out = [(f"{p}.{n}" if p else n, t) for p, m in walked for n, t in m.params.items() if t is not None]
    if len({id(t) for _, t in out}) != len(out):
        return Unknown("a parameter appears twice in the module tree")
    return out


def _m_self(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return module


def _m_none(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    return None


def _m_get_submodule(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    target = _arg(args, kwargs, 0, "target")
    if not isinstance(target, str):
        return Unknown("get_submodule of an unknown name")
    node: Any = module
    for part in target.split(".") if target else []:
        node = interp.module_getattr(node, part) if isinstance(node, ModuleValue) else Unknown("no such submodule")
    return node


def _m_save_hyperparameters(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    hparams = module.attrs.get("hparams")
    if not isinstance(hparams, AttrDict):
        hparams = AttrDict()
        module.attrs["hparams"] = hparams
    ignore = kwargs.get("ignore") or []
    if isinstance(ignore, str):
        ignore = [ignore]
    ignore = set(ignore) if isinstance(ignore, (list, tuple, set)) else set()
    names = [a for a in args if isinstance(a, str)]
    given = [a for a in args if not isinstance(a, str)]
    for value in given:
        mapping = interp.as_mapping(value)
        if mapping is not None:
            hparams.update(mapping)
        return None
    init_frame = frame
    while init_frame is not None and init_frame.func is None:
        init_frame = init_frame.parent
    if init_frame is None or init_frame.func is None:
        return None
    spec = init_frame.func.node.args
    params = [p.arg for p in [*spec.posonlyargs, *spec.args, *spec.kwonlyargs]][1:]
    for name in params:
        if name in ignore or (names and name not in names):
            continue
        if name in init_frame.locals:
            hparams[name] = init_frame.locals[name]
    if spec.kwarg is not None and not names:
        extra = init_frame.locals.get(spec.kwarg.arg)
        if isinstance(extra, dict):
            hparams.update({k: v for k, v in extra.items() if k not in ignore})
    return None


def _m_setattr(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    """`self.__setattr__(name, value)`: as `setattr(self, name, value)`."""
    return b_setattr(interp, [module, *args], kwargs, frame)


_FLOATING = frozenset({"float16", "float32", "float64", "bfloat16"})
_COMPLEX = frozenset({"complex32", "complex64", "complex128"})


def _cast(module: ModuleValue, dtype: str, kinds: frozenset[str]) -> ModuleValue:
    """`module.half()`, `.to(torch.bfloat16)`: every floating-point parameter and buffer of the
    tree takes the dtype (integer buffers such as `num_batches_tracked` keep theirs)."""
    for _, sub in _walk_modules(module):
        for table in (sub.params, sub.buffers):
            for name, tensor in table.items():
                if tensor is not None and (tensor.dtype in kinds or tensor.dtype.startswith("float8")):
                    table[name] = replace(tensor, dtype=dtype)
    return module


def _to_dtype(value: Any) -> str | None:
    """The dtype a `Module.to(...)` argument asks for: None when it is not one (a device)."""
    if isinstance(value, TensorValue):
        return value.dtype
    if isinstance(value, ExternalRef) and value.qualname.startswith("torch."):
        leaf = value.qualname.removeprefix("torch.")
        return DTYPE_ALIASES.get(leaf) if leaf in DTYPE_ALIASES else None
    if value is None or isinstance(value, (str, int)):
        return None  # a device ("cuda", 0) or nothing
    return UNKNOWN_DTYPE


def _m_to(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
    asked = [d for d in (_to_dtype(v) for v in [*args, kwargs.get("dtype"), kwargs.get("tensor")]) if d is not None]
    if asked:
        _cast(module, asked[0], _FLOATING | _COMPLEX)
    return module


def _caster(dtype: str) -> ModuleMethod:
    def cast(interp: Runtime, module: ModuleValue, args: list[Any], kwargs: dict[str, Any], frame: Frame | None) -> Any:
        return _cast(module, dtype, _FLOATING)

    return cast


MODULE_METHODS: dict[str, ModuleMethod] = {
    "add_module": _m_add_module, "register_module": _m_add_module,
    "register_buffer": _m_register_buffer, "register_parameter": _m_register_parameter,
    "append": _m_append, "extend": _m_extend, "insert": _m_insert, "update": _m_update,
    "pop": _m_pop, "clear": _m_clear,
    "children": _m_children, "named_children": _m_named_children, "modules": _m_modules,
    "named_modules": _m_named_modules, "__setattr__": _m_setattr,
    "parameters": _m_parameters, "named_parameters": _m_named_parameters, "get_submodule": _m_get_submodule,
    "save_hyperparameters": _m_save_hyperparameters,
    "to": _m_to, "cuda": _m_self, "cpu": _m_self, "float": _caster("float32"), "double": _caster("float64"),
    "half": _caster("float16"), "bfloat16": _caster("bfloat16"), "train": _m_self, "eval": _m_self,
    "requires_grad_": _m_self, "apply": _m_self, "type": _m_self, "share_memory": _m_self,
    "zero_grad": _m_none, "post_init": _m_none, "init_weights": _m_none, "tie_weights": _m_none,
    "reset_parameters": _m_none, "freeze": _m_none, "unfreeze": _m_none,
    "flatten_parameters": _m_none, "_init_weights": _m_none,
}
