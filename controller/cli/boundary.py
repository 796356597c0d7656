"""The one error boundary of the CLI, and what every command prints through.

The project's own errors become one line on stderr and a named exit code; anything
unexpected gets a short message and its traceback in a log file.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from controller.errors import ExitStatus, FleetError
from controller.report.store import state_dir
from inventory import InventoryError, SelectionError

if TYPE_CHECKING:
    from rich.console import Console


@contextlib.contextmanager
def frozen_imports() -> Iterator[None]:
    """Import with the cyclic GC paused, then freeze everything alive (see main()).

    asyncssh and cryptography make many objects that live as long as the process; left
    to the collector, they are walked during the import and again by the full collection
    at exit (~40 ms of deploy's ~220 ms of CPU). Frozen, they are never walked.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def stdout_console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # a pipe or a log file has no width: do not fold paths at 80
    return console


def error(*lines: str) -> None:
    """Plain lines on stderr (no markup: messages may hold brackets from paths)."""
    for line in lines:
        sys.stderr.write(line + "\n")


def _usage(as_json: bool, *lines: str) -> typer.Exit:
    """A usage or inventory error: its lines on stderr, or with --json one JSON object on
    stdout (`{"error": ..., "exit": 2}`, docs/design.md); nothing was contacted."""
    if as_json:
        import json

        sys.stdout.write(json.dumps({"error": "\n".join(lines), "exit": int(ExitStatus.USAGE)}))
        sys.stdout.write("\n")
    else:
        error(*lines)
    return typer.Exit(ExitStatus.USAGE)


def _crash_log(exc: BaseException) -> Path | None:
    """Write the traceback where the operator can find it; never on the terminal."""
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
        path.write_text("".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


@contextlib.contextmanager
def boundary(as_json: bool = False) -> Iterator[None]:
    """The one error boundary of the CLI."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except InventoryError as exc:
        # One `FILE:LINE: key: message (hint)` line per problem, unprefixed, so editors
        # and the operator's eye jump straight to the line.
        raise _usage(as_json, str(exc)) from None
    except SelectionError as exc:
        raise _usage(as_json, f"fleet: {exc}") from None
    except FleetError as exc:
        raise _usage(
            as_json, f"fleet: {exc}", *([f"hint: {exc.hint}"] if exc.hint else [])
        ) from None
    except KeyboardInterrupt:
        error(
            "fleet: interrupted; runs already started go on on the hosts "
            "(`fleet status`, `fleet resume HOST`)"
        )
        raise typer.Exit(ExitStatus.NOT_COMPLETED) from None
    except Exception as exc:  # the boundary: anything unexpected
        where = _crash_log(exc)
        error(f"fleet: internal error: {type(exc).__name__}: {exc}")
        if where is not None:
            error(f"the traceback is in {where}")
        raise typer.Exit(ExitStatus.INTERNAL) from None
