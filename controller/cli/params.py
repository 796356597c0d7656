"""The options the commands share, as Typer reads them (Annotated types, parsers)."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from controller.cli.completion import complete_hosts
from controller.options import Count, parse_duration
from controller.report.waves import parse_batch, parse_max_fail
from inventory import DEFAULT_INVENTORY
from remote.protocol import ON_FAILURE, PULL_POLICIES


def _inventory_or_root(
    ctx: typer.Context, param: typer.CallbackParam, value: Path | None
) -> Path | None:
    """A command's -i wins; else `fleet -i FILE COMMAND`'s (before the command) wins over
    FLEET_INVENTORY and the default."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    if source is not None and source.name == "COMMANDLINE":  # Typer bundles its own click
        return value
    given_first = ctx.find_root().params.get("_inventory")
    # The root's value is still the raw string here (Typer converts it for the callback).
    return Path(given_first) if isinstance(given_first, str | Path) else value


InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--inventory",
        envvar="FLEET_INVENTORY",
        callback=_inventory_or_root,
        help=f"Inventory file (default: {DEFAULT_INVENTORY}).",
        show_envvar=True,
    ),
]
# `fleet -i FILE COMMAND`: the same option before the command (the command's own wins).
RootInventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "-i", "--inventory", help="Inventory file for the command (as the command's own -i)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", min=1, help="Hosts run at the same time.")
]
ReconnectOpt = Annotated[
    float,
    typer.Option("--reconnect-timeout", min=0, help="Seconds to wait for a dropped host."),
]
ConnectTimeoutOpt = Annotated[
    float, typer.Option("--connect-timeout", min=1, help="Seconds to allow one SSH connect.")
]


def _one_of(choices: Sequence[str]) -> Callable[[str | None], str | None]:
    """An option's callback: the value, or a usage error naming the choices."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


PullOpt = Annotated[
    str | None,
    typer.Option(
        "--pull",
        callback=_one_of(PULL_POLICIES),
        help="Image pull policy for this run, over the inventory's: missing, always, never.",
    ),
]


OnFailureOpt = Annotated[
    str | None,
    typer.Option(
        "--on-failure",
        callback=_one_of(ON_FAILURE),
        help="After a failed validate, deploy or verify: stop, or roll back to the last "
        "good release (over the inventory's on_failure).",
    ),
]
VerifyTimeoutOpt = Annotated[
    int | None,
    typer.Option(
        "--verify-timeout",
        min=1,
        help="Seconds a service may take to become healthy (default: the runner's, 60).",
    ),
]
AcceptNewOpt = Annotated[
    bool,
    typer.Option(
        "--accept-new",
        help="Add an unknown host key to known_hosts on first contact (never a changed one).",
    ),
]
HandshakesOpt = Annotated[
    int,
    typer.Option(
        "--handshakes",
        min=1,
        help="SSH handshakes at the same time (keep it below sshd's MaxStartups, 10).",
    ),
]
AgeIdentityOpt = Annotated[
    Path | None,
    typer.Option(
        "--age-identity",
        help="age identity (or SSH private key) that decrypts secrets/ (default: "
        "$FLEET_AGE_IDENTITY, ~/.config/fleet/age.key, else ~/.ssh/id_ed25519, id_rsa).",
    ),
]
RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="source: push hosts get services/ from here (default: the inventory's folder).",
    ),
]
HostsOpt = Annotated[
    str,
    typer.Option(
        "--hosts",
        "-H",
        help="all, NAME,NAME, @group or a glob like 'pi-*'.",
        autocompletion=complete_hosts,
    ),
]
# resume and rollback: --hosts, or the hosts as arguments (the older spelling; not both).
NamedHostsOpt = Annotated[
    str | None,
    typer.Option(
        "--hosts",
        "-H",
        help="NAME,NAME, @group or a glob like 'pi-*' (or name them as arguments).",
        autocompletion=complete_hosts,
    ),
]


def _count_parser(parse: Callable[[str], Count]) -> Callable[[str], Count]:
    """A rollout count's parser whose error says what is allowed (not only the value)."""

    def parser(text: str) -> Count:
        try:
            return parse(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parser


BatchOpt = Annotated[
    Count | None,
    typer.Option(
        "--batch",
        parser=_count_parser(parse_batch),
        metavar="N|P%",
        help="Rolling deploy: hosts per wave, in inventory order (P% rounds up).",
    ),
]
CanaryOpt = Annotated[
    int | None,
    typer.Option("--canary", min=1, help="Rolling deploy: a first wave of N hosts alone."),
]
MaxFailOpt = Annotated[
    Count | None,
    typer.Option(
        "--max-fail",
        parser=_count_parser(parse_max_fail),
        metavar="N|P%",
        help="Failure budget: once more hosts than this did not complete, no new host starts.",
    ),
]
NotifyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        metavar="URL",
        help="Also tell this Apprise URL how the run ended (repeatable; docs/notify.md).",
    ),
]
NoNotifyOpt = Annotated[
    bool, typer.Option("--no-notify", help="Send no notification, not even the inventory's.")
]
HtmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--html", metavar="FILE", help="Also write the run as one HTML page (a timeline)."
    ),
]


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


UntilDoneOpt = Annotated[
    float | None,
    typer.Option(
        "--until-done",
        parser=_duration,
        metavar="DURATION",
        help="Try unreachable or disconnected hosts again, with backoff, for up to "
        "DURATION (90s, 30m, 12h) since the run began (docs/unattended.md).",
    ),
]
