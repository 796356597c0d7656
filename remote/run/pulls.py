"""Images in prepare: pull (or build) each service's images as its pull policy says, so
that nothing after prepare needs the network; validate then refuses an image that is
neither on the host nor was pullable. Pulls go through compose (`pull --quiet SERVICE`).
"""

from __future__ import annotations

import os
import time

from remote.docker import compose
from remote.docker.images import Local, Need, engine_command, inspect, parse_needs
from remote.kit import jsonio, procs
from remote.kit.atomic import write_json
from remote.protocol import BUILD_PROGRESS, PULL_PROGRESS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

    from remote.run.context import Context

IMAGES_FILE = "images.json"  # in the state folder: what this run pulled, what it could not
PULLED, PRESENT, SKIPPED, BUILT, FAILED = "pulled", "present", "skipped", "built", "failed"


def service_needs(ctx: Context, files: compose.ServiceFiles) -> Tuple[List[Need], Optional[str]]:
    config = ctx.config(files)
    if not config.result.ok:
        return [], config.result.reason()
    if config.json is None:
        return [], "this compose cannot print its config as JSON"
    try:
        return parse_needs(config.json, ctx.job.pull), None
    except (ValueError, AttributeError):
        return [], "compose config --format json printed no JSON object"


class Record(object):
    """images.json in the state folder: images pulled by this run (a resume does not pull
    them again, even under `always`) and, per service, images it could not get."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, IMAGES_FILE)
        data = jsonio.read_object(self.path) or {}
        pulled = data.get("pulled")
        missing = data.get("missing")
        self.pulled: List[str] = list(pulled) if isinstance(pulled, list) else []
        self.missing: Dict[str, Dict[str, str]] = missing if isinstance(missing, dict) else {}

    def save(self) -> None:
        write_json(self.path, {"pulled": self.pulled, "missing": self.missing})


def prepare_service(ctx: Context, files: compose.ServiceFiles, record: Record) -> str:
    """Pull or build what the service needs; one image_pulled event per image.
    Returns a short account for the prepare stage's message."""
    if record.missing.pop(files.name, None) is not None:
        record.save()
    if files.definition is None:
        return ""  # validate names the missing definition
    needs, error = service_needs(ctx, files)
    if error is not None:
        ctx.log.say("%s: images not checked (compose config failed: %s)" % (files.name, error))
        return ""
    cli = engine_command(ctx.job.compose_command)
    counts: Dict[str, int] = {}
    for need in needs:
        status = _prepare_image(ctx, files, record, cli, need)
        counts[status] = counts.get(status, 0) + 1
    return ", ".join("%d %s" % (n, status) for status, n in sorted(counts.items()))


def _prepare_image(
    ctx: Context, files: compose.ServiceFiles, record: Record, cli: List[str], need: Need
) -> str:
    timeout = ctx.timeout("compose_s")
    if need.policy == "build" or need.build:
        return _build(ctx, files, record, cli, need)
    if need.policy == "never":
        # No inspect: a `never` image costs prepare nothing (validate's compose config
        # and up itself say so if it is absent).
        return _emit(ctx, files, need, SKIPPED, None, None, "pull policy never: not pulled")
    local = inspect(cli, need.image, timeout)
    if local is not None and need.image in record.pulled:
        return _emit(ctx, files, need, PRESENT, local, None, "pulled earlier in this run")
    if local is not None and need.policy == "missing":
        return _emit(ctx, files, need, PRESENT, local, None, "on the host")
    ctx.log.say("%s%s for %s" % (PULL_PROGRESS, need.image, files.name), push=True)
    argv = [*compose.project_argv(ctx.job.compose_command, files), "pull", "--quiet"]
    result = procs.run(argv + need.services[:1], timeout, cwd=files.service_dir)
    if result.ok:
        record.pulled.append(need.image)
        record.save()
        return _emit(
            ctx,
            files,
            need,
            PULLED,
            inspect(cli, need.image, timeout),
            result.duration_ms,
            "pulled",
        )
    return _pull_failed(ctx, files, record, need, inspect(cli, need.image, timeout), result)


def _pull_failed(
    ctx: Context,
    files: compose.ServiceFiles,
    record: Record,
    need: Need,
    local: Optional[Local],
    result: procs.Result,
) -> str:
    cause = result.reason()
    if local is not None:
        ctx.log.event(
            "warning",
            stage="prepare",
            service=files.name,
            image=need.image,
            message="pull of %s failed (%s): deploying the image already on the host"
            % (need.image, cause),
        )
        return _emit(ctx, files, need, PRESENT, local, result.duration_ms, "pull failed")
    record.missing.setdefault(files.name, {})[need.image] = cause
    record.save()
    return _emit(ctx, files, need, FAILED, None, result.duration_ms, "pull failed: %s" % cause)


def _build(
    ctx: Context, files: compose.ServiceFiles, record: Record, cli: List[str], need: Need
) -> str:
    ctx.log.say("%s%s for %s" % (BUILD_PROGRESS, need.image, files.name), push=True)
    argv = [*compose.project_argv(ctx.job.compose_command, files), "build", "--quiet"]
    result = procs.run(argv + need.services, ctx.timeout("compose_s"), cwd=files.service_dir)
    local = inspect(cli, need.image, ctx.timeout("compose_s"))
    if result.ok:
        return _emit(ctx, files, need, BUILT, local, result.duration_ms, "built")
    return _pull_failed(ctx, files, record, need, local, result)


def _emit(
    ctx: Context,
    files: compose.ServiceFiles,
    need: Need,
    status: str,
    local: Optional[Local],
    duration_ms: Optional[int],
    message: str,
) -> str:
    ctx.log.event(
        "image_pulled",
        stage="prepare",
        service=files.name,
        image=need.image,
        status=status,
        digest=local.digest if local else None,
        size=local.size if local else None,
        duration_ms=duration_ms,
        message=message,
    )
    return status


def validate_problem(ctx: Context, name: str) -> Optional[str]:
    """Why service `name` cannot be deployed from what is on the host, or None.
    An image prepare could not get is looked for again: it may have come since."""
    missing = Record(ctx.state.dir).missing.get(name) or {}
    cli = engine_command(ctx.job.compose_command)
    for image, cause in sorted(missing.items()):
        if inspect(cli, image, ctx.timeout("compose_s")) is None:
            return "service %s: image %s is not on the host and could not be pulled: %s" % (
                name,
                image,
                cause,
            )
    return None


def up(ctx: Context, files: compose.ServiceFiles) -> procs.Result:
    """`up -d --remove-orphans --pull never`; a compose without `--pull` (docker-compose
    v1, podman-compose) gets plain `up`: prepare already put every image in place."""
    argv = compose.up_argv(ctx.job.compose_command, files)  # ends with --pull never
    result = procs.run(argv, ctx.timeout("compose_s"), cwd=files.service_dir)
    if result.ok or not compose.unknown_flag(result.stderr):
        return result
    command = " ".join(ctx.job.compose_command)
    ctx.log.say("%s has no `up --pull never`: running plain up" % command)
    return procs.run(argv[:-2], ctx.timeout("compose_s"), cwd=files.service_dir)


def prepare(ctx: Context) -> str:
    """Every service's images, in plan order; the prepare stage's account of them."""
    started = time.monotonic()
    record = Record(ctx.state.dir)
    parts = []
    for name in ctx.job.services:
        account = prepare_service(ctx, ctx.files(name), record)
        if account:
            parts.append("%s: %s" % (name, account))
    if not parts:
        return "no images to pull"
    return "images (%dms): %s" % (int((time.monotonic() - started) * 1000), "; ".join(parts))
