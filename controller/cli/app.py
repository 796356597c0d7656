"""The `fleet` Typer app: its root callback (--version) and the entry point. The
commands register themselves on it from their modules (controller/cli/__init__.py)."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import gc
import sys
from typing import Annotated

import typer

from controller.cli.params import RootInventoryOpt
from controller.errors import ExitStatus

app = typer.Typer(
    name="fleet",
    help="Deploy Docker Compose services to a homelab fleet over SSH, resumably.",
    no_args_is_help=True,
    # Typer's completion options cost a start nothing measurable (docs/design.md, CLI).
    add_completion=True,
    # Locals can hold keys and passwords: never print them in a traceback.
    pretty_exceptions_show_locals=False,
    # Inherited by every command's context: `fleet deploy -h` as `--help`.
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("homelab-fleet")
        except PackageNotFoundError:  # run from a checkout that was never installed
            found = "unknown (not installed)"
        sys.stdout.write(f"fleet {found}\n")
        raise typer.Exit(ExitStatus.OK)


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    _inventory: RootInventoryOpt = None,
) -> None:
    """Deploy Docker Compose services to a homelab fleet over SSH, resumably."""


def main() -> None:
    """Console-script entry point (`fleet`)."""
    gc.freeze()  # what the imports made lives until exit: the collector need not walk it
    app()
