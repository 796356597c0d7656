#!/bin/sh
# Healthy (exit 0) when the web container answers HTTP on its own port.
# The service publishes no host port, so the request is made inside the container.
# Retries for a few seconds: the runner may call this right after `up -d`.
set -u
project=$(basename "$(cd "$(dirname "$0")" && pwd)")  # services/<project>/healthcheck.sh
tries=10
while [ "$tries" -gt 0 ]; do
    cid=$(docker ps -q --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=web" --filter status=running | head -n 1)
    if [ -n "$cid" ] && docker exec "$cid" wget -q -O /dev/null http://127.0.0.1:8080/; then
        exit 0
    fi
    tries=$((tries - 1))
    sleep 1
done
echo "web: no running container answers on :8080" >&2
exit 1
