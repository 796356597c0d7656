"""One notification per run, built from the run's report in its `--json` shape.

Pure: a dict in, a Message out. Only the report's own fields are used (never a URL, an
environment or a file), and every text passes through the caller's masking function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controller.report.steps import rollback_steps

Mask = Callable[[str], str]
MessageType = Literal["success", "failure"]
HostReport = Mapping[str, Any]
RUN_COMMANDS = ("deploy", "resume", "rollback")
ERROR_CHARS = 200  # a phone's notification shows a few lines; the report has the rest


@dataclass(frozen=True)
class Message:
    """What one notification says: Apprise's title, body and notify type."""

    title: str
    body: str
    type: MessageType


def needs_sending(report: Mapping[str, Any], command: str) -> bool:
    """A run always reports its end; check and outdated only when a host needs attention."""
    if command in RUN_COMMANDS:
        return True
    return any(not _is_done(h, command) for h in _hosts(report).values())


def build_message(
    report: Mapping[str, Any],
    command: str,
    *,
    mask: Mask,
    continue_with: Mapping[str, str] | None = None,
) -> Message:
    """The run's title (`fleet deploy: 4 of 5 completed`), body and type.

    `continue_with` maps a host to the command that continues it (the report's own next
    command); a host it does not name gets `fleet resume HOST` (deploy, resume, rollback)
    or the command that looks at it again (check, outdated).
    """
    hosts = _hosts(report)
    done = [name for name, h in hosts.items() if _is_done(h, command)]
    open_ = [name for name in hosts if name not in done]
    title = f"fleet {command}: {len(done)} of {len(hosts)} {_done_word(command)}"
    lines: list[str] = []
    for name in open_:
        lines += _open_host(name, hosts[name], command, (continue_with or {}).get(name))
    if done:
        lines.append(f"{_done_word(command)}: {', '.join(done)}")
    if report.get("run_id"):
        lines.append(f"run {report['run_id']}")
    kind: MessageType = "failure" if open_ else "success"
    return Message(mask(title), mask("\n".join(lines)), kind)


def _hosts(report: Mapping[str, Any]) -> dict[str, HostReport]:
    hosts = report.get("hosts")
    if not isinstance(hosts, Mapping):
        return {}
    return {str(n): h for n, h in hosts.items() if isinstance(h, Mapping)}


def _done_word(command: str) -> str:
    return {"check": "passed", "outdated": "current"}.get(command, "completed")


def _is_done(host: HostReport, command: str) -> bool:
    if command == "check":
        return host.get("status") == "ok"
    if command == "outdated":
        images = host.get("images") or []
        current = all(isinstance(i, Mapping) and i.get("state") == "current" for i in images)
        return host.get("status") == "checked" and current
    return host.get("status") == "completed"


def _open_host(name: str, host: HostReport, command: str, next_step: str | None) -> list[str]:
    """A host that did not complete: where it stopped, why, and what continues it."""
    lines = [f"{name}: {_where(host)}"]
    error = _one_line(host.get("error")) or _why(host, command)
    if error:
        lines.append(f"  error: {error}")
    lines += [f"  {step}" for step in rollback_steps(host)]
    step = next_step or _check_fix(host, command) or _default_next(name, command)
    if step:
        lines.append(f"  continue: {step}")
    return lines


def _where(host: HostReport) -> str:
    """`failed at deploy, service web (after 3 attempts)`."""
    text = str(host.get("status") or "unknown")
    stage = host.get("failed_stage") or host.get("last_stage")
    if stage:
        text += f" at {stage}"
    service = _failed_service(host) or host.get("last_service")
    if service:
        text += f", service {service}"
    attempts = host.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        text += f" (after {attempts} attempts)"
    return text


def _failed_service(host: HostReport) -> str | None:
    services = host.get("services")
    if not isinstance(services, Mapping):
        return None
    return next((str(s) for s, state in services.items() if state == "failed"), None)


def _why(host: HostReport, command: str) -> str:
    """The cause of check's and outdated's hosts, which carry it in their items."""
    if command == "check":
        checks = host.get("checks") or {}
        failed = [f"{k}: {c.get('detail')}" for k, c in checks.items() if not c.get("ok")]
        return _one_line("; ".join(failed))
    if command == "outdated":
        images = [i for i in host.get("images") or [] if i.get("state") != "current"]
        found = [f"{i.get('service')} {i.get('image')} ({i.get('state')})" for i in images]
        return _one_line(", ".join(found))
    return ""


def _check_fix(host: HostReport, command: str) -> str | None:
    """A failed check says what to do about it: its first `fix` continues the host."""
    if command != "check":
        return None
    fixes = (c.get("fix") for c in (host.get("checks") or {}).values() if not c.get("ok"))
    return next((_one_line(f) for f in fixes if f), None)


def _default_next(name: str, command: str) -> str | None:
    if command in RUN_COMMANDS:
        return f"fleet resume {name}"
    if command in ("check", "outdated"):
        return f"fleet {command} --hosts {name}"
    return None


def _one_line(text: object) -> str:
    """The first non-empty line, whitespace collapsed, cut to ERROR_CHARS."""
    if not isinstance(text, str):
        return ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    line = " ".join(first.split())
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"
