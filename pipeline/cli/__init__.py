"""The ``sitewatch`` command line.

Each subcommand lives in its own module under :mod:`pipeline.cli` and exposes
``register(app, eval_app)``. A command parses arguments, calls one library
function and writes/prints results; nothing else.
"""

from __future__ import annotations

import importlib

import typer

from pipeline import __version__

# Subcommand modules, in the order their commands appear in ``--help``.
COMMAND_MODULES = (
    "replay",
    "synth",
    "ingest",
    "change",
    "detect",
    "claims",
    "ls",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sitewatch {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Assemble the Typer application from the subcommand modules."""
    app = typer.Typer(
        name="sitewatch",
        help=(
            "Evidence from dated satellite tiles of airbases: ingest and validate tiles, "
            "detect change between dates, find and measure aircraft, push chips to Label "
            "Studio, and link every detection to the report sentence it supports or "
            "contradicts.\n\nStart with:  sitewatch replay sample_tiles/"
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    eval_app = typer.Typer(
        help="Score sitewatch against ground truth (synthetic and real reference data).",
        no_args_is_help=True,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        """Sitewatch command line."""

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"pipeline.cli.{name}")
        module.register(app, eval_app)
    app.add_typer(eval_app, name="eval")
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
