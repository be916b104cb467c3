"""`python -m lora_core`: the command line, a public contract.

Subcommands live in `lora_core/commands/<name>.py`; each exposes `register(subparsers)` (arguments only,
no heavy imports) and `run(args) -> CommandResult` (the work, through the core). This module owns the
contract that is the same for all of them:

- `--json` prints the payload as JSON on stdout; without it, a readable table.
- Bad input exits with status 2 and one line `error: ...` on stderr, never a traceback.
- `main(argv) -> int` never calls sys.exit, so scripts and tests can call it.

Subcommands, flags and JSON keys may be added, never renamed or removed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from lora_core.commands import CommandResult
from lora_core.errors import LoraLabError

# name -> module; the order is the order `--help` lists them.
COMMANDS = {
    "matrix": "lora_core.commands.matrix",
    "params": "lora_core.commands.params",
    "memory": "lora_core.commands.memory",
    "fit": "lora_core.commands.fit",
}

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise LoraLabError("cli.usage", message=message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m lora_core",
        description="LoRA Lab: exact LoRA parameter counts, GPU memory estimates and live LoRA fits.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module_name in COMMANDS.values():
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        result: CommandResult = args.run(args)
    except SystemExit as exc:  # --help and --version exit through argparse
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_OK
    except LoraLabError as exc:
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return EXIT_USAGE
    except Exception as exc:  # a bug, not bad input: still one line, but a different status
        sys.stderr.write(f"error: internal error ({type(exc).__name__}): {_one_line(exc)}\n")
        return EXIT_INTERNAL

    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result.payload, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(result.table.rstrip("\n") + "\n")
    return EXIT_OK
