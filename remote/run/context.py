"""What the stages of one run share; apart from the stages, so that the modules that
take a Context (pulls, releases, diagnostics) need not import them."""

from __future__ import annotations

from remote.docker import compose, configs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

    from remote.run.job import Job
    from remote.run.runlog import RunLog
    from remote.run.state import State

# What a run did to each service of its job (summary.json's "services").
COMPLETED, SKIPPED, FAILED, PENDING = "completed", "skipped", "failed", "pending"


class Context(object):
    """What the stages of one run share: the job, the state, the log, the outcome."""

    def __init__(
        self,
        root: str,
        job: Job,
        state: State,
        log: RunLog,
        resume: bool,
        scrub: Callable[[str], str],
    ) -> None:
        self.root = root
        self.scrub = scrub
        self.job = job
        self.state = state
        self.log = log
        self.resume = resume
        self.services = {name: PENDING for name in job.services}
        self.current_service: Optional[str] = None
        # each service's merged configuration, asked of compose once (remote/docker/configs.py)
        self._configs: Dict[str, configs.Config] = {}
        # Set by remote.run.releases.begin: a rollback run, and where it reads each
        # service's files from (its target release's definitions and image pins).
        self.rollback = False
        self.release_files: Optional[Callable[[str], compose.ServiceFiles]] = None
        # verify's last listing of each project: complete records the release from it.
        self.containers: Dict[str, List[Dict[str, Any]]] = {}

    def files(self, name: str) -> compose.ServiceFiles:
        if self.release_files is not None:
            return self.release_files(name)
        return compose.service_files(self.root, self.job.repo, name)

    def timeout(self, key: str) -> float:
        return self.job.timeouts[key]

    def config(self, files: compose.ServiceFiles) -> configs.Config:
        """The service's merged config, from this run's cache or from compose (once)."""
        found = self._configs.get(files.name)
        if found is None:
            command = self.job.compose_command
            found = configs.ask(command, files, self.timeout("compose_s"))
            self._configs[files.name] = found
        return found
