"""`ckptlens` command line (SPEC section 1). Imports stay lazy so start-up is fast."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unreadable input: one line on stderr, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ckptlens",
        description="Does this checkpoint fit this nn.Module? Answered statically, before anything runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="a checkpoint's keys, shapes, dtypes and container layout")
    p.add_argument("checkpoint")
    p.add_argument("--format", choices=["text", "json"], default="text")

    for name, formats, default, help_text in (
        ("check", ["text", "json", "sarif"], "text", "does the checkpoint fit the class?"),
        ("map", ["json", "python", "text"], "json", "a key mapping that makes the checkpoint load"),
        ("keys", ["text", "json"], "text", "the state_dict the class would have, from source"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("source", metavar="SOURCE.py")
        p.add_argument("--class", dest="class_name", required=True, metavar="NAME")
        p.add_argument("--checkpoint", required=name != "keys", metavar="CKPT")
        p.add_argument("--format", choices=formats, default=default)
        _model_options(p)
        if name == "check":
            p.add_argument(
                "--unverified-severity",
                choices=["error", "warning", "information", "hint"],
                default="warning",
                help="severity of `unverified` (checkpoint tensors under parts the analysis could not resolve)",
            )

    sub.add_parser("lsp", help="the language server, on stdio")
    return parser


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="CONFIG.json", help="a config object for the class, as JSON")
    p.add_argument(
        "--init",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument (VALUE is a Python literal, otherwise a string); repeatable",
    )


def parse_init(items: list[str]) -> dict[str, Any]:
    import ast

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--init expects KEY=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            out[key] = raw
    return out


def _cmd_check(args: argparse.Namespace) -> int:
    from ckptlens import __version__
    from ckptlens.api import check
    from ckptlens.render import check_to_json, check_to_sarif, render_check_text

    result = check(
        args.source,
        args.class_name,
        args.checkpoint,
        init=parse_init(args.init),
        config=args.config,
        unverified_severity=_severity(args.unverified_severity),
    )
    if args.format == "json":
        _print_json(_with_constructor(check_to_json(result.findings, result.coverage), result.predicted))
    elif args.format == "sarif":
        _print_json(check_to_sarif(result.findings, __version__, result.coverage))
    else:
        _write_constructor(args.class_name, result.predicted)
        sys.stdout.write(
            render_check_text(
                result.findings,
                class_name=args.class_name,
                checkpoint_path=result.index.path,
                matched=result.comparison.matched,
                total=result.comparison.total,
                color=_color(),
                coverage=result.coverage,
            )
        )
    return EXIT_FINDINGS if result.fails else EXIT_OK


def _cmd_map(args: argparse.Namespace) -> int:
    from ckptlens.api import check
    from ckptlens.engine.mapping_code import render_python
    from ckptlens.render import map_to_json, render_map_text

    result = check(args.source, args.class_name, args.checkpoint, init=parse_init(args.init), config=args.config)
    if args.format == "json":
        _print_json(map_to_json(result.mapping, state_dict_path=result.index.state_dict_path))
    elif args.format == "python":
        sys.stdout.write(render_python(result.comparison, class_name=args.class_name, checkpoint=result.index))
    else:
        sys.stdout.write(render_map_text(result.comparison, color=_color(), checkpoint=result.index))
    return EXIT_FINDINGS if result.fails else EXIT_OK


def _cmd_keys(args: argparse.Namespace) -> int:
    from ckptlens.api import check, predict
    from ckptlens.render import keys_to_json, render_keys_text

    init = parse_init(args.init)
    result = None
    if args.checkpoint:
        result = check(args.source, args.class_name, args.checkpoint, init=init, config=args.config)
        predicted = result.predicted
    else:
        predicted = predict(args.source, args.class_name, init=init, config=args.config)
    if args.format == "json":
        _print_json(_with_constructor(keys_to_json(predicted), predicted))
        return EXIT_OK
    _write_constructor(args.class_name, predicted)
    if result is not None:
        sys.stdout.write(
            render_keys_text(
                predicted, color=_color(), checkpoint=result.index.tensors, comparison=result.comparison
            )
        )
    else:
        sys.stdout.write(render_keys_text(predicted, color=_color()))
    return EXIT_OK


def _with_constructor(data: dict[str, Any], predicted: Any) -> dict[str, Any]:
    """`"constructor": {name: {"value": ..., "source": ...}}` beside the SPEC fields."""
    from ckptlens.render_constructor import constructor_to_json

    data["constructor"] = constructor_to_json(predicted.constructor)
    return data


def _write_constructor(class_name: str, predicted: Any) -> None:
    """The constructor values used and their sources, above the text report."""
    from ckptlens.render_constructor import render_constructor_text

    text = render_constructor_text(class_name, predicted.constructor, color=_color())
    if text:
        sys.stdout.write(text + "\n")


def _severity(name: str) -> Any:
    from ckptlens.findings import Severity

    return Severity(name)


def _color() -> bool:
    import os

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.checkpoint.render import index_to_json, render_index_text

    index = read_checkpoint(args.checkpoint)
    if args.format == "json":
        _print_json(index_to_json(index))
    else:
        sys.stdout.write(render_index_text(index, color=_color()))
    return EXIT_OK


def _cmd_lsp(args: argparse.Namespace) -> int:
    from ckptlens.lsp.server import run_stdio

    run_stdio()
    return EXIT_OK


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


_COMMANDS = {
    "check": _cmd_check,
    "map": _cmd_map,
    "keys": _cmd_keys,
    "inspect": _cmd_inspect,
    "lsp": _cmd_lsp,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line, never a traceback
        label = "error" if _is_user_error(exc) else f"internal error: {type(exc).__name__}"
        sys.stderr.write(f"ckptlens: {label}: {_one_line(str(exc))}\n")
        return EXIT_USAGE


def _is_user_error(exc: Exception) -> bool:
    """Bad usage or unreadable input (exit 2 with its message), as opposed to a bug."""
    names = {"UsageError", "CheckpointError", "UnsafeCheckpointError", "SourceError", "TargetError", "ConfigError"}
    return any(cls.__name__ in names and cls.__module__.startswith("ckptlens") for cls in type(exc).__mro__)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


if __name__ == "__main__":
    raise SystemExit(main())
