"""`ckptlens` command line (SPEC section 1). Imports stay lazy so start-up is fast."""

from __future__ import annotations

import argparse
import json
import os
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
        if name == "check":
            # `check SOURCE.py --class NAME --checkpoint CKPT`, or `check [PATH ...]`: the workspace
            p.add_argument("source", nargs="*", metavar="SOURCE.py | PATH")
            p.add_argument("--class", dest="class_name", metavar="NAME")
            p.add_argument("--checkpoint", metavar="CKPT")
        else:
            p.add_argument("source", metavar="SOURCE.py")
            p.add_argument("--class", dest="class_name", required=True, metavar="NAME")
            p.add_argument("--checkpoint", required=name != "keys", metavar="CKPT")
        p.add_argument("--format", choices=formats, default=default)
        _model_options(p)
        if name == "keys":
            p.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
        if name == "map":
            p.add_argument(
                "--write",
                metavar="OUT.safetensors",
                help="write the checkpoint, remapped, as safetensors (never over its source)",
            )
            p.add_argument(
                "--max-shard-size",
                metavar="SIZE",
                help="with --write: shards of at most SIZE (5GB, 500MB, 2GiB) and their index.json",
            )
        if name == "check":
            p.add_argument(
                "--unverified-severity",
                choices=["error", "warning", "information", "hint"],
                default=None,
                help="severity of `unverified` (checkpoint tensors under parts the analysis could not resolve)",
            )
            edits = p.add_mutually_exclusive_group()
            edits.add_argument("--diff", action="store_true", help="workspace check: print the safe fixes as a unified diff")
            edits.add_argument("--fix", action="store_true", help="workspace check: apply the safe fixes (rename, literal dim)")
            p.add_argument(
                "--no-cache",
                action="store_true",
                help="neither read nor write the caches (the workspace's .ckptlens_cache, the result cache)",
            )
            p.add_argument("--jobs", type=int, default=2, metavar="N", help="workspace check: parallel processes (default 2)")

    p = sub.add_parser("infer", help="the constructor values the checkpoint was saved with")
    p.add_argument("source", metavar="SOURCE.py")
    p.add_argument("--class", dest="class_name", required=True, metavar="NAME")
    p.add_argument("--checkpoint", required=True, metavar="CKPT")
    p.add_argument("--format", choices=["text", "json", "python"], default="text")
    _model_options(p)

    p = sub.add_parser("find", help="which checkpoints under PATHs fit the class, best first")
    p.add_argument("source", metavar="SOURCE.py")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to search (default: .)")
    p.add_argument("--class", dest="class_name", required=True, metavar="NAME")
    p.add_argument("--format", choices=["text", "json"], default="text")
    _model_options(p)

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
        if not sep or not all(part.isidentifier() for part in key.split(".")):
            raise UsageError(f"--init expects KEY=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            out[key] = raw
    return out


def _cmd_check(args: argparse.Namespace) -> int:
    if args.class_name is None:
        return _cmd_check_workspace(args)  # a warm run never loads the engine
    if len(args.source) != 1:
        raise UsageError("check --class NAME takes exactly one SOURCE.py")
    if args.checkpoint is None:
        raise UsageError("check SOURCE.py --class NAME needs --checkpoint CKPT")
    if args.diff or args.fix:
        raise UsageError("--diff and --fix check the workspace: give no --class")
    cache = None if args.no_cache else _result_cache("check", args, args.source[0], args.checkpoint)
    if cache is not None:
        hit = cache.lookup()
        if hit is not None:
            sys.stdout.write(hit.stdout)
            return hit.exit
        return cache.run(lambda: _check_class(args))
    return _check_class(args)


def _check_class(args: argparse.Namespace) -> int:
    from ckptlens import __version__
    from ckptlens.api import check
    from ckptlens.render.check import check_to_json, check_to_sarif, render_check_text

    result = check(
        args.source[0],
        args.class_name,
        args.checkpoint,
        init=parse_init(args.init),
        config=args.config,
        unverified_severity=_severity(args.unverified_severity or "warning"),
    )
    if args.format == "json":
        data = check_to_json(result.findings, result.coverage)
        data["inferred"] = result.inferred
        _print_json(_with_constructor(data, result.predicted))
    elif args.format == "sarif":
        _print_json(check_to_sarif(result.findings, __version__, result.coverage))
    else:
        _write_constructor(args.class_name, result.predicted)
        _write_text(
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


def _cmd_infer(args: argparse.Namespace) -> int:
    from ckptlens.api import check
    from ckptlens.render.infer import infer_to_python, infer_to_text

    result = check(args.source, args.class_name, args.checkpoint, init=parse_init(args.init), config=args.config)
    inference = result.inference
    undetermined = list(inference.undetermined) if inference is not None else []
    if args.format == "json":
        _print_json(
            {
                "inferred": result.inferred,
                "undetermined": undetermined,
                "findings": [f.to_json() for f in result.findings],
            }
        )
    elif args.format == "python":
        _write_text(infer_to_python(args.class_name, result))
    else:
        _write_text(infer_to_text(args.class_name, result))
    return EXIT_FINDINGS if result.fails else EXIT_OK


def _cmd_check_workspace(args: argparse.Namespace) -> int:
    """`check [PATH ...]`: every linked class of the workspace (SPEC section 5)."""
    import dataclasses
    import os

    from ckptlens import __version__
    from ckptlens import workspace_check as ws
    from ckptlens.render.check import render_workspace_text, workspace_to_json, workspace_to_sarif

    if args.checkpoint is not None or args.init or args.config:
        raise UsageError("--checkpoint, --init and --config need SOURCE.py --class NAME")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    try:
        root = ws.find_root(args.source)
        options = ws.load_options(root)
        if args.unverified_severity:
            options = dataclasses.replace(options, unverified_severity=args.unverified_severity)
        report = ws.check_workspace(
            args.source,
            options=options,
            jobs=args.jobs,
            cache=not args.no_cache,
            with_fixes=args.diff or args.fix,
        )
    except ws.WorkspaceConfigError as exc:
        raise UsageError(str(exc)) from exc
    for problem in report.problems:
        sys.stderr.write(f"ckptlens: warning: {problem}\n")
    cwd = os.getcwd()
    if args.diff or args.fix:
        changes = ws.fixed_texts(report.fixes)
        if args.diff:
            _write_text(ws.unified_diff(changes, cwd))
            return EXIT_FINDINGS if changes else EXIT_OK
        for path, (_old, new) in changes.items():
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(new)
        sys.stderr.write(f"ckptlens: fixed {len(changes)} file(s)\n")
        report = ws.check_workspace(args.source, options=options, jobs=args.jobs, cache=not args.no_cache)
    if args.format == "json":
        _print_json(workspace_to_json(report))
    elif args.format == "sarif":
        _print_json(workspace_to_sarif(report, __version__))
    else:
        _write_text(render_workspace_text(report, color=_color(), cwd=cwd))
    return EXIT_FINDINGS if report.fails else EXIT_OK


def _cmd_map(args: argparse.Namespace) -> int:
    from ckptlens.api import check, render_python
    from ckptlens.render.map import map_to_json, render_map_text, written_text

    max_shard = None
    if args.max_shard_size is not None:
        if not args.write:
            raise UsageError("--max-shard-size needs --write OUT.safetensors")
        from ckptlens.checkpoint.writer import parse_size

        max_shard = parse_size(args.max_shard_size)
    if args.write:
        from ckptlens.checkpoint.remote import is_remote

        if is_remote(args.checkpoint):
            raise UsageError(
                "--write copies every tensor's bytes: download the remote checkpoint first "
                "(map without --write reads its headers only)"
            )
    result = check(args.source, args.class_name, args.checkpoint, init=parse_init(args.init), config=args.config)
    written = None
    if args.write:
        from ckptlens.checkpoint.writer import write_safetensors

        written = write_safetensors(
            result.index.path,
            args.write,
            mapping=result.mapping.mapping,
            dropped=result.mapping.dropped,
            max_shard_size=max_shard,
            tied=result.predicted.tied,
        )
    if args.format == "json":
        data = map_to_json(result.mapping, state_dict_path=result.index.state_dict_path)
        if written is not None:
            data["written"] = written.to_json()
        _print_json(data)
    elif args.format == "python":
        _write_text(render_python(result.comparison, class_name=args.class_name, checkpoint=result.index))
        if written is not None:
            from ckptlens.textsafe import safe_output

            sys.stderr.write(safe_output(written_text(written), color=False))
    else:
        _write_text(render_map_text(result.comparison, color=_color(), checkpoint=result.index))
        if written is not None:
            _write_text(written_text(written))
    return EXIT_FINDINGS if result.fails else EXIT_OK


def _result_cache(command: str, args: argparse.Namespace, source: str, checkpoint: str | None) -> Any:
    """The result cache's entry for this call (`ckptlens.result_cache`), or None when off."""
    from ckptlens import result_cache

    options = {
        "init": list(args.init),
        "format": args.format,
        "unverified_severity": getattr(args, "unverified_severity", None),
    }
    return result_cache.for_command(
        command,
        source=source,
        class_name=args.class_name,
        options=options,
        config=args.config,
        checkpoint=checkpoint,
        color=args.format == "text" and _color(),
    )


def _cmd_keys(args: argparse.Namespace) -> int:
    cache = None if args.no_cache else _result_cache("keys", args, args.source, args.checkpoint)
    if cache is not None:
        hit = cache.lookup()
        if hit is not None:
            sys.stdout.write(hit.stdout)
            return hit.exit
        return cache.run(lambda: _keys(args))
    return _keys(args)


def _keys(args: argparse.Namespace) -> int:
    from ckptlens.api import check, model_size, predict
    from ckptlens.render.keys import keys_to_json, render_keys_text
    from ckptlens.render.size import size_lines

    init = parse_init(args.init)
    result = None
    if args.checkpoint:
        result = check(args.source, args.class_name, args.checkpoint, init=init, config=args.config)
        predicted = result.predicted
    else:
        predicted = predict(args.source, args.class_name, init=init, config=args.config)
    size = model_size(predicted)
    if args.format == "json":
        data = keys_to_json(predicted)
        data["totals"] = size.total.to_json()
        data["submodules"] = {name: t.to_json() for name, t in size.submodules.items()}
        _print_json(_with_constructor(data, predicted))
        return EXIT_OK
    _write_constructor(args.class_name, predicted)
    if result is not None:
        text = render_keys_text(
            predicted, color=_color(), checkpoint=result.index.tensors, comparison=result.comparison
        )
    else:
        text = render_keys_text(predicted, color=_color())
    _write_text(text + "\n" + "\n".join(size_lines(size)) + "\n")
    return EXIT_OK


def _cmd_find(args: argparse.Namespace) -> int:
    from ckptlens.find import find
    from ckptlens.render.find import render_find_text

    result = find(
        args.source, args.class_name, args.paths or ["."], init=parse_init(args.init), config=args.config
    )
    if args.format == "json":
        _print_json(result.to_json())
    else:
        _write_text(render_find_text(result))
    return EXIT_OK if result.fitting else EXIT_FINDINGS


def _with_constructor(data: dict[str, Any], predicted: Any) -> dict[str, Any]:
    """`"constructor": {name: {"value": ..., "source": ...}}` beside the SPEC fields."""
    from ckptlens.render.constructor import constructor_to_json

    data["constructor"] = constructor_to_json(predicted.constructor)
    return data


def _write_constructor(class_name: str, predicted: Any) -> None:
    """The constructor values used and their sources, above the text report."""
    from ckptlens.render.constructor import render_constructor_text

    text = render_constructor_text(class_name, predicted.constructor, color=_color())
    if text:
        _write_text(text + "\n")


def _severity(name: str) -> Any:
    from ckptlens.findings import Severity

    return Severity(name)


def _color() -> bool:
    import os

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.render.inspect import index_to_json, render_index_text

    index = read_checkpoint(args.checkpoint)
    if args.format == "json":
        _print_json(index_to_json(index))
    else:
        _write_text(render_index_text(index, color=_color()))
    return EXIT_OK


def _cmd_lsp(args: argparse.Namespace) -> int:
    from ckptlens.lsp.server import run_stdio

    # Remote checkpoints: a stale cached answer is shown at once and revalidated meanwhile.
    os.environ.setdefault("CKPTLENS_REMOTE_REVALIDATE", "background")
    run_stdio()
    return EXIT_OK


def _write_text(text: str) -> None:
    """Text output: whatever a file smuggled into it (control characters in keys, paths,
    messages) is shown escaped; only ckptlens's own colour codes reach the terminal."""
    from ckptlens.textsafe import safe_output

    sys.stdout.write(safe_output(text, color=_color()))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


_COMMANDS = {
    "check": _cmd_check,
    "map": _cmd_map,
    "keys": _cmd_keys,
    "inspect": _cmd_inspect,
    "find": _cmd_find,
    "infer": _cmd_infer,
    "lsp": _cmd_lsp,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # `find SOURCE --class NAME PATH ...`: paths may follow the options
            if args.command != "find" or any(item.startswith("-") for item in extra):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            args.paths = [*args.paths, *extra]
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.command != "lsp":
        import gc

        # One analysis per process, building many small objects that live to the end: young
        # collections that rarely free anything cost 15-25 % of a call (measured,
        # benchmarks/bench_startup.py); cycles are still collected, less often. At 100,000 a
        # typical call collects not once (at 20,000: twice, 5-8 ms of CPU, each traversing the
        # engine's freshly imported objects); at most ~10 MB of garbage waits for a collection.
        gc.set_threshold(100_000, 50, 1000)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line, never a traceback
        if _is_user_error(exc):
            label, text = "error", str(exc)
        else:
            label, text = "internal error", _in_words(exc)
        sys.stderr.write(f"ckptlens: {label}: {_one_line(text)}\n")
        return EXIT_USAGE


def _is_user_error(exc: Exception) -> bool:
    """Bad usage or unreadable input (exit 2 with its message), as opposed to a bug."""
    names = {"UsageError", "WorkspaceConfigError", "CheckpointError", "UnsafeCheckpointError", "SourceError", "TargetError", "ConfigError"}
    return any(cls.__name__ in names and cls.__module__.startswith("ckptlens") for cls in type(exc).__mro__)


def _in_words(exc: Exception) -> str:
    """A failure that is not a known user error, said without Python's class names."""
    if isinstance(exc, MemoryError):
        return "ran out of memory (the input is too large or built to exhaust memory)"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to analyse"
    from ckptlens.checkpoint.index import describe_failure

    return describe_failure(exc)


def _one_line(text: str) -> str:
    from ckptlens.textsafe import escape_control

    return escape_control(" ".join(text.split())) or "unknown error"


if __name__ == "__main__":
    raise SystemExit(main())
