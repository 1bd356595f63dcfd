"""`ckptlens infer`: the constructor values the checkpoint was saved with, as text, and as the
constructor call that rebuilds the checkpoint's model (SPEC §5, issue 15)."""

from __future__ import annotations

from typing import Any

from ckptlens.engine.model import ConstructorValue

_GIVEN = ("--init", "--config", "checkpoint", "config.json", "inferred")


def infer_to_text(class_name: str, result: Any) -> str:
    inference = result.inference
    lines: list[str] = []
    if inference is None:
        lines.append(f"{class_name}: every constructor value is given; nothing to infer")
    elif not inference.values:
        lines.append(f"{class_name}: the checkpoint determines none of the values nobody gave")
    else:
        lines.append(f"{class_name} was saved with:")
        width = max(len(f"{v.name}={v.value}") for v in inference.values.values())
        for item in inference.values.values():
            lines.append(f"  {f'{item.name}={item.value}'.ljust(width)}  from {item.where}")
    if inference is not None and inference.undetermined:
        lines.append("not determined by the checkpoint: " + ", ".join(inference.undetermined))
    mismatches = [f for f in result.findings if f.is_mismatch]
    if mismatches:
        lines.append(f"{len(mismatches)} mismatch finding(s) remain: run `ckptlens check` for them")
    lines.append("")
    lines.append(infer_to_python(class_name, result).rstrip("\n"))
    return "\n".join(lines) + "\n"


def infer_to_python(class_name: str, result: Any) -> str:
    """The constructor call that rebuilds the checkpoint's model: the given and inferred values,
    and `None` with a comment for each value the checkpoint does not determine (to be filled
    in). A config the checkpoint fixed is built as the object the code reads attributes from
    (`types.SimpleNamespace`)."""
    values: dict[str, ConstructorValue] = result.predicted.constructor
    inference = result.inference
    undetermined = list(inference.undetermined) if inference is not None else []
    open_fields: dict[str, list[str]] = {}
    open_params: list[str] = []
    for name in undetermined:
        if "." in name:
            head, attr = name.split(".", 1)
            open_fields.setdefault(head, []).append(attr)
        else:
            open_params.append(name)
    arguments: list[str] = []
    solved = inference.values if inference is not None else {}
    needs_namespace = False
    for name, item in values.items():
        if item.source.startswith(_GIVEN):
            if isinstance(item.value, dict) and item.source == "inferred from the checkpoint":
                fields = [
                    f"        {k}={v!r},"
                    + ("  # not determined by the checkpoint" if v is None and f"{name}.{k}" not in solved else "")
                    for k, v in item.value.items()
                ]
                fields += [f"        {k}=None,  # not determined by the checkpoint" for k in open_fields.pop(name, [])]
                arguments.append(f"    {name}=SimpleNamespace(\n" + "\n".join(fields) + "\n    ),")
                needs_namespace = True
            else:
                arguments.append(f"    {name}={item.value!r},")
        elif name in open_params:
            arguments.append(f"    {name}=None,  # not determined by the checkpoint")
    lines = ["from types import SimpleNamespace", ""] if needs_namespace else []
    if arguments:
        lines.append(f"model = {class_name}(")
        lines.extend(arguments)
        lines.append(")")
    else:
        lines.append(f"model = {class_name}()")
    return "\n".join(lines) + "\n"
