"""The layer catalog: what tensors and submodules a library layer owns, as data.

`lookup(qualname)` gives a `LayerSpec` for a torch.nn class (however it is spelled:
`torch.nn.Linear`, `torch.nn.modules.linear.Linear`, `torch.nn.modules.Linear`), or for any
`torchmetrics` metric; `bind` binds call arguments to its signature; `spec.build(bound)` says
what the layer owns, with unknown arguments flowing into `None` dims.

Protocol with the interpreter (see `catalog_base` for the types):

- `LayerBuild.children` are ChildLayer (build it: `lookup(c.qualname).build(c.args)`, even
  for a container row, and recurse) or ChildFromArg (the runtime value of that argument of the
  *same* build: a module, None for no child, Unknown for an unknown subtree; `copies=n` makes
  an nn.ModuleList of n deep copies).
- Dtypes are canonical names ("float32"); `tensors.UNKNOWN_DTYPE` when a dtype argument is
  unknown.
- Lazy layers (LazyLinear, LazyConv*, Lazy*Norm*) declare the shapes their uninitialized
  parameters materialize to, with the inferred input dim None: `LazyLinear(4)` -> weight
  (4, None).

The table is in `catalog_layers` (tensor-owning and composite rows; the recurrent, attention and
transformer builders are in `catalog_sequence`) and `catalog_simple` (parameterless rows);
`tests/test_catalog.py` checks every row against torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ckptlens.engine import catalog_einops, catalog_layers, catalog_simple
from ckptlens.engine.catalog_base import (
    REQUIRED,
    ChildFromArg,
    ChildLayer,
    LayerBuild,
    LayerSpec,
    LibraryFunction,
    Param,
    Row,
    TensorDecl,
    bind,
    install_index,
    signature,
)
from ckptlens.engine.values import Unresolvable

__all__ = [
    "REQUIRED",
    "ChildFromArg",
    "ChildLayer",
    "LayerBuild",
    "LayerSpec",
    "LibraryFunction",
    "Param",
    "TensorDecl",
    "bind",
    "lookup",
    "rows",
    "state_dict_of",
]

ROWS: tuple[Row, ...] = catalog_layers.ROWS + catalog_simple.ROWS + catalog_einops.ROWS


def _index(all_rows: Sequence[Row]) -> tuple[Mapping[str, LayerSpec], Mapping[str, LayerSpec]]:
    """(every explicit qualified name -> spec, class name -> spec for torch.nn.modules.* rows)."""
    exact: dict[str, LayerSpec] = {}
    by_name: dict[str, LayerSpec] = {}
    for r in all_rows:
        spec = r.spec()
        names = [r.qualname, f"{r.module}.{r.name}", *r.aliases]
        if r.public:
            names += [f"torch.nn.{r.name}", f"torch.nn.modules.{r.name}"]
        for name in names:
            if name in exact and exact[name].qualname != spec.qualname:
                raise ValueError(f"two catalog rows claim {name}")
            exact[name] = spec
        if r.module.startswith("torch.nn.modules."):
            by_name[r.name] = spec
    return MappingProxyType(exact), MappingProxyType(by_name)


_EXACT, _BY_CLASS_NAME = _index(ROWS)

# torchmetrics metrics keep their states out of state_dict (non-persistent), except those that
# hold a (pretrained) network as a submodule: its weights are in the state_dict.
_METRICS_WITH_NETWORKS = frozenset(
    {
        "ARNIQA",
        "BERTScore",
        "CLIPImageQualityAssessment",
        "CLIPScore",
        "FrechetInceptionDistance",
        "InceptionScore",
        "InfoLM",
        "KernelInceptionDistance",
        "LearnedPerceptualImagePatchSimilarity",
        "MemorizationInformedFrechetInceptionDistance",
        "PerceptualPathLength",
    }
)
_ANY_ARGS = signature("*args, **kwargs")


def _metric_build(name: str) -> Any:
    def build(args: dict[str, Any]) -> LayerBuild:
        if name in _METRICS_WITH_NETWORKS:
            raise Unresolvable(
                f"torchmetrics {name} holds a network whose weights are in its state_dict"
            )
        return LayerBuild()

    return build


def _torchmetrics(qualname: str) -> LayerSpec | None:
    parts = qualname.split(".")
    if parts[0] != "torchmetrics" or len(parts) < 2 or "functional" in parts:
        return None
    name = parts[-1]
    if not name[:1].isupper():
        return None
    return LayerSpec(qualname, _ANY_ARGS, _metric_build(name))


def lookup(qualname: str) -> LayerSpec | None:
    """The catalog row of a library class by any qualified name torch exposes it under
    (`torch.nn.Linear`, `torch.nn.modules.linear.Linear`, `torch.nn.modules.Linear`,
    `torch.nn.modules.transformer.Linear`), or a torchmetrics metric; None otherwise."""
    spec = _EXACT.get(qualname)
    if spec is not None:
        return spec
    prefix, _, name = qualname.rpartition(".")
    if prefix.startswith("torch.nn.modules.") and prefix.count(".") == 3:
        # a submodule of torch.nn.modules re-exporting a class it imports
        return _BY_CLASS_NAME.get(name)
    return _torchmetrics(qualname)


install_index(lookup)  # the rows' child layers are bound through it


def rows() -> tuple[Row, ...]:
    """Every row as declared (defining module, class name, signature, builder)."""
    return ROWS


def state_dict_of(
    qualname: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
) -> list[tuple[str, TensorDecl]]:
    """The state_dict a layer built alone would have: (key, declaration) in `state_dict()`
    order. Submodules passed in as arguments must be catalog-built (ChildLayer values); a
    runtime module in a ChildFromArg raises Unresolvable."""
    spec = lookup(qualname)
    if spec is None:
        raise Unresolvable(f"{qualname} is not in the layer catalog")
    return list(_walk(spec, bind(spec, args, kwargs or {}), ""))


def _walk(spec: LayerSpec, bound: dict[str, Any], prefix: str) -> Iterator[tuple[str, TensorDecl]]:
    built = spec.build(bound)
    for decl in built.parameters:
        yield prefix + decl.name, decl
    for decl in built.buffers:
        if decl.persistent:
            yield prefix + decl.name, decl
    for child in built.children:
        if isinstance(child, ChildLayer):
            child_spec = lookup(child.qualname)
            if child_spec is None:
                raise Unresolvable(f"{child.qualname} is not in the layer catalog")
            # bound again, as the interpreter does
            yield from _walk(child_spec, bind(child_spec, (), child.args), f"{prefix}{child.name}.")
        else:
            value = bound[child.arg]
            if value is None:
                continue
            raise Unresolvable(f"the submodule {prefix}{child.name} comes from a runtime value")
