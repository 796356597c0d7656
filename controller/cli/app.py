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
    if "--json" in sys.argv[1:]:
        sys.exit(_json_main())
    app()


def _json_main() -> int:
    """With --json, a usage error Click finds while parsing (a bad --pull, an unknown
    option) is `{"error": ..., "exit": 2}` on stdout too, as the commands' own are
    (docs/design.md); its usual lines still go to stderr."""
    try:
        code = app(standalone_mode=False)
    except Exception as err:  # Click's errors: Typer vendors Click since 0.26, so by shape
        exit_code, show = getattr(err, "exit_code", None), getattr(err, "show", None)
        if type(err).__name__ == "Abort":
            sys.stderr.write("Aborted!\n")
            return int(ExitStatus.NOT_COMPLETED)
        if not isinstance(exit_code, int) or not callable(show):
            raise
        if exit_code == ExitStatus.USAGE:
            import json

            described = getattr(err, "format_message", None)
            message = described() if callable(described) else str(err)
            line = {"error": f"fleet: {message}", "exit": int(ExitStatus.USAGE)}
            sys.stdout.write(json.dumps(line) + "\n")
        show()
        return exit_code
    return code if isinstance(code, int) else int(ExitStatus.OK)
