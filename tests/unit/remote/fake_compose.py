"""A stand-in for `docker compose` in unit tests: logs its argv, fails on demand.

Invoked as `python fake_compose.py CONTROL.json <compose args...>`. CONTROL.json says
where to log and what to do:

    {"log": "/tmp/calls.jsonl",
     "fail": {"up": ["b"], "config": ["c"]},    verb -> projects that fail it
     "stderr": "pull access denied",             what a failing call prints on stderr
     "sleep": {"up": {"b": 30}},                 verb -> project -> seconds to sleep first
     "state": {"b": "exited"},                   what `ps` reports (default running)
     "health": {"b": "unhealthy"},               what `ps` reports as Health
     "stdout": {"config": "SECRET=..."},         verb -> what it prints on stdout
     "unknown_flags": ["--pull"]}                flags it rejects, as docker-compose v1 does
"""

import json
import sys
import time

VERBS = ("up", "config", "ps", "logs", "down", "pull", "build")


def main() -> int:
    with open(sys.argv[1]) as handle:
        control = json.load(handle)
    args = sys.argv[2:]
    project = args[args.index("-p") + 1] if "-p" in args else ""
    verb = next((a for a in args if a in VERBS), "")
    with open(control["log"], "a") as log:
        log.write(json.dumps({"project": project, "verb": verb, "argv": args}) + "\n")
    for flag in control.get("unknown_flags", []):
        if flag in args:
            sys.stderr.write(f"unknown flag: {flag}\n")
            return 1
    time.sleep(control.get("sleep", {}).get(verb, {}).get(project, 0))
    sys.stdout.write(control.get("stdout", {}).get(verb, ""))
    if project in control.get("fail", {}).get(verb, []):
        sys.stderr.write(control.get("stderr", "fake compose failure") + "\n")
        return 1
    if verb == "ps":
        print_containers(control, project)
    if verb == "up":
        sys.stderr.write(f" Container {project}-app-1  Started\n")
    if verb == "logs":
        sys.stdout.write(f"{project}-app-1  | hello from {project}\n")
    return 0


def print_containers(control: dict, project: str) -> None:
    if project in control.get("no_containers", []):
        return
    container = {
        "Name": f"{project}-app-1",
        "State": control.get("state", {}).get(project, "running"),
        "Health": control.get("health", {}).get(project, ""),
        "Status": "Up 1 second",
    }
    if "--format" in sys.argv:
        sys.stdout.write(json.dumps(container) + "\n")
    else:
        sys.stdout.write("NAME  STATE\n{}  {}\n".format(container["Name"], container["State"]))


if __name__ == "__main__":
    sys.exit(main())
