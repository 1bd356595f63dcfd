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

    sub.add_parser("lsp", help="the language server, on stdio")
    return parser


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ckptlens.checkpoint import read_checkpoint
    from ckptlens.checkpoint.render import index_to_json, render_index_text

    index = read_checkpoint(args.checkpoint)
    if args.format == "json":
        _print_json(index_to_json(index))
    else:
        sys.stdout.write(render_index_text(index, color=sys.stdout.isatty()))
    return EXIT_OK


def _cmd_lsp(args: argparse.Namespace) -> int:
    from ckptlens.lsp.server import run_stdio

    run_stdio()
    return EXIT_OK


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


_COMMANDS = {"inspect": _cmd_inspect, "lsp": _cmd_lsp}


def main(argv: list[str] | None = None) -> int:
    from ckptlens.checkpoint.index import CheckpointError

    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, CheckpointError) as exc:
        sys.stderr.write(f"ckptlens: error: {_one_line(str(exc))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


if __name__ == "__main__":
    raise SystemExit(main())
