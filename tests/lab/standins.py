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

# tag -> (port, required env (A|B = either), required files, folders it writes, extra lines)
STAND_INS: dict[str, tuple[int, str, str, str, str]] = {
    "stand-in/postgres:16": (5432, "POSTGRES_PASSWORD|POSTGRES_PASSWORD_FILE", "", "/var/lib/postgresql/data", ""),
    "stand-in/mariadb:11": (3306, "MARIADB_ROOT_PASSWORD|MYSQL_ROOT_PASSWORD", "", "/var/lib/mysql", ""),
    "stand-in/redis:7": (6379, "", "", "/data", ""),
    "stand-in/nextcloud:29-apache": (80, "POSTGRES_HOST POSTGRES_PASSWORD", "", "/var/www/html", ""),
    "stand-in/gitea:1.22": (3000, "GITEA__database__PASSWD", "", "/data/gitea", ""),
    "stand-in/vaultwarden:1.32": (80, "DOMAIN ADMIN_TOKEN", "", "/data", 'HEALTHCHECK --interval=1s --timeout=2s CMD ["healthcheck.sh"]'),
    "stand-in/traefik:v3.1": (80, "", "/etc/traefik/traefik.yml", "", ""),
    "stand-in/whoami:v1.10": (80, "", "", "", ""),
    "stand-in/immich-server:release": (2283, "DB_PASSWORD DB_HOSTNAME", "", "/usr/src/app/upload", ""),
    "stand-in/immich-machine-learning:release": (3003, "MACHINE_LEARNING_MODEL_TTL", "", "/cache", ""),
    "stand-in/paperless-ngx:2.11": (8000, "PAPERLESS_REDIS PAPERLESS_DBPASS_FILE PAPERLESS_SECRET_KEY", "", "/usr/src/paperless/data", ""),
    "stand-in/gotenberg:8": (3000, "", "", "", ""),
    "stand-in/adminer:4": (8080, "", "", "", ""),
    "stand-in/prometheus:v2.53": (9090, "", "/etc/prometheus/prometheus.yml", "/prometheus", ""),
    "stand-in/node-exporter:v1.8": (9100, "", "", "", ""),
    "stand-in/nginx:1.27-alpine": (80, "", "", "", ""),
    "stand-in/miniflux:2.1": (8080, "DATABASE_URL ADMIN_PASSWORD", "", "", ""),
}  # fmt: skip


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
    for tag, (port, needs, files, writes, extra) in STAND_INS.items():
        name = tag.split("/", 1)[1].split(":")[0]
        env = (
            f'ENV STAND_IN_NAME="{name}" STAND_IN_PORT="{port}" STAND_IN_NEEDS="{needs}" '
            f'STAND_IN_FILES="{files}" STAND_IN_WRITES="{writes}"\n'
        )
        _build(tag, f"FROM {BASE}\n{env}{extra}\n", {})
    return sorted(STAND_INS)
