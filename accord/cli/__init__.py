"""The `accord` command.

Each sub-command lives in its own module of this package and exposes `register(subparsers)`, which adds
its parser and sets `func` to the function that runs it. `main` turns every `AccordError` (and a few
standard input errors) into one line on stderr and exit status 2, never a traceback.

    accord generate "How do I learn Python?" --preference concise --method amulet
    accord eval preferences --limit 30 --preference concise
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings

from accord.errors import AccordError

# Sub-command modules, in the order `accord --help` lists them.
COMMAND_MODULES = [
    "accord.cli.generate",
    "accord.cli.evaluate",
    "accord.cli.models",
    "accord.cli.games",
    "accord.cli.consensus",
    "accord.cli.mpo",
    "accord.cli.values",
    "accord.cli.persuade",
    "accord.cli.agents",
    "accord.cli.marl",
    "accord.cli.pbrl",
]


def add_model_arguments(parser, role: str = "model", default: str | None = None, flag: str = "--model") -> None:
    """--model/--backend/--dtype/--device, shared by every command that loads a model through accord.lm.

    `role` names what the model does in that command ("drafter", "model under test", ...); `flag` renames
    --model where another name reads better (`accord consensus rejudge --judge`)."""
    from accord.lm.packaged import DEFAULT_MODEL

    default = default or DEFAULT_MODEL
    parser.add_argument(flag, default=default,
                        help=f"{role}: packaged name, .gguf file, model folder, hub id or http(s)://URL#name "
                             f"(default {default})")
    parser.add_argument("--backend", default="auto",
                        help="auto | llamacpp | transformers | openai (default auto: llama.cpp for a GGUF on CPU)")
    parser.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16 (transformers)")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no multi-line usage dump); exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="accord", description="Align language models and agents with people and societies."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:  # a sub-command whose module is not present in this build
            if error.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from accord import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    warnings.formatwarning = lambda message, category, *rest, **options: f"accord: warning: {message}\n"
    try:
        result = args.func(args)
    except AccordError as error:
        print(f"accord: error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        print(f"accord: error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as error:
        print(f"accord: error: malformed JSON: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accord: interrupted (finished results are kept; rerun to resume)", file=sys.stderr)
        return 130
    return int(result or 0)


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" -> (K, N) with 1 <= K <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 1/2), got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return index, count


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
