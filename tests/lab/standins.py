"""Local stand-ins for the images that upstream compose files name (no registry here).

Each is the lab's busybox image with a small entrypoint that behaves like the real image
where a compose file can tell: it refuses to start without the settings the real one
needs (a password from env_file, a bind-mounted config file, a *_FILE secret), writes
into its data folder (so a bind mount lands in the host's folder), serves HTTP on the
real image's port, and ships the commands upstream healthchecks call (pg_isready...).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.lab.docker import BUSYBOX_IMAGE, LabUnavailable

BASE = "stand-in/base:1"
ENTRYPOINT = r"""#!/bin/sh
# Fail as the real image would when its settings are missing.
for need in $STAND_IN_NEEDS; do
  ok=
  for var in $(echo "$need" | busybox tr '|' ' '); do
    eval "value=\${$var:-}"
    [ -n "$value" ] && ok=1
  done
  [ -n "$ok" ] || { echo "stand-in: $need is not set" >&2; exit 1; }
done
for file in $STAND_IN_FILES $(env | busybox sed -n 's/^[A-Z_]*_FILE=//p'); do
  [ -s "$file" ] || { echo "stand-in: $file is missing or empty" >&2; exit 1; }
done
for dir in $STAND_IN_WRITES; do
  mkdir -p "$dir" && echo "$STAND_IN_NAME" > "$dir/.stand-in" || exit 1
done
exec httpd -f -p "${STAND_IN_PORT:-80}" -h "${STAND_IN_WWW:-/www}"
"""
# No wget -T: it crashes this busybox (1.35); the healthcheck's timeout bounds the probe.
PROBE = '#!/bin/sh\nexec wget -q -O /dev/null "http://127.0.0.1:${STAND_IN_PORT:-80}/"\n'
REDIS_CLI = '#!/bin/sh\nwget -q -O /dev/null "http://127.0.0.1:6379/" && echo PONG\n'
HELPERS = {
    "stand-in": ENTRYPOINT,
    "pg_isready": PROBE,
    "healthcheck.sh": PROBE,
    "redis-cli": REDIS_CLI,
    "miniflux": PROBE,
}
# An entrypoint, as the real images have: a compose `command:` only passes it arguments.
BASE_DOCKERFILE = f"""FROM {BUSYBOX_IMAGE}
COPY bin/ /usr/local/bin/
ENV PATH=/usr/local/bin:/bin
STOPSIGNAL SIGKILL
ENTRYPOINT ["stand-in"]
"""


@dataclass(frozen=True)
class StandIn:
    """What a stand-in needs to start, as its real image would."""

    port: int
    needs: str = ""  # env vars that must be set, "A|B" = either
    files: str = ""  # files that must be there (bind mounts)
    writes: str = ""  # folders it writes into (its volumes)
    extra: str = ""  # more Dockerfile lines


STAND_INS = {
    "stand-in/postgres:16": StandIn(
        5432, needs="POSTGRES_PASSWORD|POSTGRES_PASSWORD_FILE", writes="/var/lib/postgresql/data"
    ),
    "stand-in/mariadb:11": StandIn(
        3306, needs="MARIADB_ROOT_PASSWORD|MYSQL_ROOT_PASSWORD", writes="/var/lib/mysql"
    ),
    "stand-in/redis:7": StandIn(6379, writes="/data"),
    "stand-in/nextcloud:29-apache": StandIn(
        80, needs="POSTGRES_HOST POSTGRES_PASSWORD", writes="/var/www/html"
    ),
    "stand-in/gitea:1.22": StandIn(3000, needs="GITEA__database__PASSWD", writes="/data/gitea"),
    "stand-in/vaultwarden:1.32": StandIn(
        80,
        needs="DOMAIN ADMIN_TOKEN",
        writes="/data",
        extra='HEALTHCHECK --interval=1s --timeout=2s CMD ["healthcheck.sh"]',
    ),
    "stand-in/traefik:v3.1": StandIn(80, files="/etc/traefik/traefik.yml"),
    "stand-in/whoami:v1.10": StandIn(80),
    "stand-in/immich-server:release": StandIn(
        2283, needs="DB_PASSWORD DB_HOSTNAME", writes="/usr/src/app/upload"
    ),
    "stand-in/immich-machine-learning:release": StandIn(
        3003, needs="MACHINE_LEARNING_MODEL_TTL", writes="/cache"
    ),
    "stand-in/paperless-ngx:2.11": StandIn(
        8000,
        needs="PAPERLESS_REDIS PAPERLESS_DBPASS_FILE PAPERLESS_SECRET_KEY",
        writes="/usr/src/paperless/data",
    ),
    "stand-in/gotenberg:8": StandIn(3000),
    "stand-in/adminer:4": StandIn(8080),
    "stand-in/prometheus:v2.53": StandIn(
        9090, files="/etc/prometheus/prometheus.yml", writes="/prometheus"
    ),
    "stand-in/node-exporter:v1.8": StandIn(9100),
    "stand-in/nginx:1.27-alpine": StandIn(80),
    "stand-in/miniflux:2.1": StandIn(8080, needs="DATABASE_URL ADMIN_PASSWORD"),
}


def _build(tag: str, dockerfile: str, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        (context / "Dockerfile").write_text(dockerfile)
        for name, text in files.items():
            path = context / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755)
        built = subprocess.run(
            ["docker", "build", "-q", "-t", tag, str(context)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    if built.returncode != 0:
        raise LabUnavailable(f"cannot build the stand-in {tag}: {built.stderr.strip()[-500:]}")


def ensure_stand_ins() -> list[str]:
    """Build (or refresh, from the build cache) every stand-in image; returns their tags."""
    _build(BASE, BASE_DOCKERFILE, {f"bin/{name}": text for name, text in HELPERS.items()})
    for tag, spec in STAND_INS.items():
        name = tag.split("/", 1)[1].split(":")[0]
        env = (
            f'ENV STAND_IN_NAME="{name}" STAND_IN_PORT="{spec.port}" STAND_IN_NEEDS="{spec.needs}" '
            f'STAND_IN_FILES="{spec.files}" STAND_IN_WRITES="{spec.writes}"\n'
        )
        _build(tag, f"FROM {BASE}\n{env}{spec.extra}\n", {})
    return sorted(STAND_INS)
