"""`python -m data.pipeline build|validate`, usable before the melancia CLI exists."""

from __future__ import annotations

import argparse
import logging

from data.pipeline.cli import add_commands


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen sub-command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m data.pipeline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
