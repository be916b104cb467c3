"""`params` subcommand: not built yet (see its issue)."""

from __future__ import annotations

from lora_core.commands import CommandResult
from lora_core.errors import LoraLabError


def register(subparsers) -> None:
    p = subparsers.add_parser("params", help="(not built yet)")
    p.set_defaults(run=run)


def run(args) -> CommandResult:
    raise LoraLabError("the params subcommand is not built yet")
