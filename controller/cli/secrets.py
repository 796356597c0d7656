"""`fleet secrets edit SVC [--host HOST]` and `fleet secrets check`: the repo's
age-encrypted .env files (controller/secrets). No value is ever printed."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from controller.cli.app import app
from controller.cli.boundary import boundary, stdout_console
from controller.cli.common import check_service, inventory_path, load, select_one
from controller.cli.params import AgeIdentityOpt, InventoryOpt, JsonOpt, RepoOpt
from controller.errors import ExitStatus, FleetError

secrets_app = typer.Typer(
    name="secrets",
    help="The repo's age-encrypted .env files: edit one, check them all.",
    no_args_is_help=True,
)
app.add_typer(secrets_app)


def _repo(repo: Path | None, inventory: Path | None) -> Path:
    return repo if repo is not None else inventory_path(inventory).resolve().parent


def _identity(path: Path | None) -> str | None:
    return None if path is None else str(path)


@secrets_app.command("edit")
def edit(
    service: Annotated[str, typer.Argument(help="The service whose .env to edit.")],
    host: Annotated[
        str | None,
        typer.Option("--host", help="Edit this host's own file (secrets/HOST/SVC.env.age)."),
    ] = None,
    inventory: InventoryOpt = None,
    repo: RepoOpt = None,
    age_identity: AgeIdentityOpt = None,
) -> None:
    """Open $EDITOR on the decrypted text, then encrypt it to secrets/recipients."""
    from controller.secrets.edit import edit_secret

    with boundary():
        inv = load(inventory)
        if host is not None:
            check_service(select_one(inventory, host, "secrets edit"), service)
        elif not any(service in h.services for h in inv.hosts):
            raise FleetError(f"no host of the inventory runs service {service!r}")
        done = edit_secret(_repo(repo, inventory), service, host, _identity(age_identity))
        word = "created" if done.created else "updated" if done.changed else "unchanged"
        sys.stdout.write(f"{done.path}: {word}\n")
    raise typer.Exit(ExitStatus.OK)


@secrets_app.command("check")
def check(
    inventory: InventoryOpt = None,
    repo: RepoOpt = None,
    age_identity: AgeIdentityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decrypt every file and say which hosts get which (exit 1: one does not decrypt)."""
    from rich.text import Text

    from controller.secrets.check import check_secrets

    with boundary(as_json):
        inv = load(inventory)
        found = check_secrets(_repo(repo, inventory), inv.hosts, _identity(age_identity))
        if as_json:
            sys.stdout.write(json.dumps({"files": [c.to_json() for c in found]}) + "\n")
        else:
            console = stdout_console()
            for checked in found:
                hosts = ", ".join(checked.hosts) or "no host"
                if checked.error:
                    console.print(Text(checked.error, style="red"))
                else:
                    count = f"{checked.keys} variable{'' if checked.keys == 1 else 's'}"
                    console.print(Text(f"{checked.path}: {count} -> {hosts}"))
            if not found:
                console.print("no encrypted files under secrets/")
        failed = any(c.error for c in found)
    raise typer.Exit(ExitStatus.NOT_COMPLETED if failed else ExitStatus.OK)
