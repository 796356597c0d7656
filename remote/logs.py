"""`fleet logs HOST SERVICE`: compose's own logs of one service, secrets masked on the host.

The host has the service's .env; the controller must never see its values. So compose's
output goes through the run log's scrubber here, line by line, before it leaves the host.
"""

from __future__ import annotations

import os
import select
import signal

from remote.docker.compose import project_argv, service_files
from remote.docker.redact import scrubber_for
from remote.kit import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, List, Optional

# How often a quiet `--follow` looks whether the reader (the SSH channel) is gone.
POLL_MS = 500


def logs_argv(
    compose_command: List[str],
    root: str,
    repo: str,
    service: str,
    tail: Optional[str],
    since: Optional[str],
    follow: bool,
) -> List[str]:
    """`<compose> -p SVC [-f ...] logs --no-color [--follow] [--tail N] [--since X]`."""
    argv = project_argv(compose_command, service_files(root, repo, service))
    argv += ["logs", "--no-color"]
    if follow:
        argv.append("--follow")
    if tail is not None:
        argv += ["--tail", tail]
    if since is not None:
        argv += ["--since", since]
    return argv


def parse_compose(text: str) -> List[str]:
    """--compose is a JSON list of words (as the plan's compose_command)."""
    words = jsonio.loads(text) if text else ["docker", "compose"]
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        raise ValueError("--compose: not a JSON list of words: %r" % text)
    return [str(w) for w in words]


def stream_logs(argv: List[str], root: str, service: str, out: IO[bytes]) -> int:
    """Run compose's logs, copy each line scrubbed to out; its exit status, or 0 when the
    reader went away (the operator's Ctrl-C closed the channel)."""
    import subprocess

    scrub = scrubber_for(root, [service])
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    watch = select.poll()
    watch.register(proc.stdout, select.POLLIN)
    watch.register(out.fileno(), select.POLLERR)
    try:
        while True:
            ready = dict(watch.poll(POLL_MS))
            if ready.get(out.fileno(), 0) & (select.POLLERR | select.POLLHUP):
                return _stop(proc)
            if proc.stdout.fileno() not in ready:
                continue
            line = proc.stdout.readline()
            if not line:
                return proc.wait()
            out.write(scrub(line.decode("utf-8", "replace")).encode("utf-8"))
            out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        return _stop(proc)
    finally:
        proc.stdout.close()


def _stop(proc: object) -> int:
    """End compose (and its follow) when nobody reads any more; never leave it behind."""
    import subprocess

    assert isinstance(proc, subprocess.Popen)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.close(1)
    except OSError:
        pass
    return 0
