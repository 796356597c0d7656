"""Each service's merged compose configuration, asked of compose once per run.

One `config --format json` serves three readers: prepare (the images to pull), validate
(compose accepts the service) and deploy (a fingerprint of exactly what `up` would be
given). Starting compose costs a host ~150 ms of CPU, as much as `up` itself, so asking
it once instead of three times is most of what a run costs beyond the `up`s.

The output holds .env values interpolated: it is kept in memory for this run, hashed,
and never written or logged.
"""

from __future__ import annotations

from remote.docker import compose, envlink
from remote.kit import procs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


class Config(object):
    """compose's answer for one service: `result` says whether compose accepts it;
    `json` is the merged configuration, None from a compose that cannot print it."""

    def __init__(self, result: procs.Result, json: Optional[str]) -> None:
        self.result = result
        self.json = json

    @property
    def fingerprint(self) -> Optional[str]:
        """sha256 of the merged configuration: equal means `up` would get the same input."""
        if not self.result.ok or not self.json or not self.json.strip():
            return None
        import hashlib  # only here: loading OpenSSL costs a runner's start ~4 ms

        return hashlib.sha256(self.json.encode("utf-8")).hexdigest()


def json_argv(compose_command: List[str], files: compose.ServiceFiles) -> List[str]:
    return [*compose.project_argv(compose_command, files), "config", "--format", "json"]


def ask(compose_command: List[str], files: compose.ServiceFiles, timeout: float) -> Config:
    """compose's merged config of one service (the run keeps it: Context.config)."""
    try:
        # R/config/<svc>/.env must be in place before compose reads the definition;
        # validate links it again and reports what went wrong.
        envlink.link_env(files.service_dir, files.env_file)
    except OSError:
        pass
    result = procs.run(json_argv(compose_command, files), timeout, cwd=files.service_dir)
    if result.ok:
        return Config(result, result.stdout)
    if result.timed_out or not compose.unknown_flag(result.stderr):
        return Config(result, None)
    argv = compose.config_argv(compose_command, files)
    return Config(procs.run(argv, timeout, cwd=files.service_dir), None)
