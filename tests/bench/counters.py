"""Bytes and SSH connections per host, counted by the kernel (iptables rule counters).

On loopback every packet passes OUTPUT once, so one chain hooked there sees both
directions: to a host's port 22 (sent by the controller), from it (received), and the SYNs
to it (connections opened).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

CHAIN = "FLEETBENCH"
# What each rule counts, and the packets it matches, for one host's address.
RULES = (
    ("sent", ("-d", "{address}", "-p", "tcp", "--dport", "22")),
    ("received", ("-s", "{address}", "-p", "tcp", "--sport", "22")),
    ("syn", ("-d", "{address}", "-p", "tcp", "--dport", "22", "--syn")),
)


@dataclass
class Wire:
    """Totals over all counted hosts since the last zero()."""

    sent: int
    received: int
    connections: int


def _iptables(*args: str) -> str:
    return subprocess.run(
        ["iptables", "-w", *args], check=True, capture_output=True, text=True
    ).stdout


class WireCounters:
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    def install(self) -> None:
        self.remove()
        _iptables("-N", CHAIN)
        _iptables("-I", "OUTPUT", "-j", CHAIN)
        for address in self.addresses:
            for comment, match in RULES:
                rule = [part.format(address=address) for part in match]
                _iptables("-A", CHAIN, *rule, "-m", "comment", "--comment", comment)

    def remove(self) -> None:
        subprocess.run(["iptables", "-w", "-D", "OUTPUT", "-j", CHAIN], capture_output=True)
        subprocess.run(["iptables", "-w", "-F", CHAIN], capture_output=True)
        subprocess.run(["iptables", "-w", "-X", CHAIN], capture_output=True)

    def zero(self) -> None:
        _iptables("-Z", CHAIN)

    def read(self) -> Wire:
        totals = {"sent": 0, "received": 0, "syn": 0}
        for line in _iptables("-L", CHAIN, "-n", "-v", "-x").splitlines()[2:]:
            fields = line.split()
            kind = line.split("/* ")[1].split(" */")[0] if "/* " in line else ""
            if kind in totals:
                totals[kind] += int(fields[0]) if kind == "syn" else int(fields[1])
        return Wire(totals["sent"], totals["received"], totals["syn"])
