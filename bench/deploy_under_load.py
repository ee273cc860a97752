#!/usr/bin/env python3
"""Bench: redeploy and rollback under load through Caddy (printed figures, not a test).

Reuses the molecule `deploy` scenario's instance (divan-deploy: two replicas
per service behind Caddy, the test registry with releases 1.0.0 and 1.1.0):
    molecule --env-file molecule/deploy/env.yml converge -s deploy
    bench/deploy_under_load.py [--rate 100] [--ws 20] [--json out.json]

1. Brings the instance to release 1.0.0 (playbooks/deploy.yml, no load).
2. Redeploy: playbooks/deploy.yml to 1.1.0 (every service changes) while
   molecule/deploy/files/divan-loadgen.py, inside the instance, sends GETs
   through Caddy at --rate per second and keeps --ws WebSocket sessions open
   on activities-core; sessions on a replaced replica drop and reconnect.
3. Rollback: playbooks/rollback.yml under the same load (registry stopped,
   so nothing can be pulled).
Prints one JSON document and a markdown table.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "molecule" / "deploy"
INSTANCE = "divan-deploy"
PATHS = ["/api/version", "/", "/api/health/live"]

p = argparse.ArgumentParser()
p.add_argument("--rate", type=float, default=100)
p.add_argument("--ws", type=int, default=20)
p.add_argument("--json", help="also write the JSON here")
args = p.parse_args()

env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
           ANSIBLE_NOCOLOR="1", MOLECULE_PROJECT_DIRECTORY=str(ROOT),
           # Per-task timestamps: the role's share of the wall time (role_s below).
           ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
           PATH="%s:%s" % (ROOT / ".venv/bin", os.environ.get("PATH", "")))
inventory = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
inventory.write("all:\n  children:\n    divan_app:\n      hosts:\n        %s:\n"
                "          ansible_connection: community.docker.docker\n" % INSTANCE)
inventory.close()


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout


def role_seconds(output):
    """Seconds spent in divan.platform.app tasks: from the start of its first task to the
    start of the first task after its last one (profile_tasks' cumulative timestamps)."""
    starts = []  # (task name, cumulative seconds at its start)
    name = None
    for line in output.splitlines():
        m = re.match(r"^TASK \[(.*)\]", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"\(\d+:\d+:[\d.]+\)\s+(\d+):(\d+):([\d.]+)[\s*]*$", line)
        if m and name is not None:
            starts.append((name, int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))))
            name = None
    app = [i for i, (task, _unused) in enumerate(starts) if task.startswith("divan.platform.app :")]
    if not app or app[-1] + 1 >= len(starts):
        return None
    return round(starts[app[-1] + 1][1] - starts[app[0]][1], 1)


def playbook(name, *extra):
    cmd = ["ansible-playbook", "-i", inventory.name, str(ROOT / "playbooks" / name),
           "-e", "@%s" % (ROOT / "molecule/_shared/vars/vendor-repos.yml"),
           "-e", "@%s" % (ROOT / "molecule/deploy/vars/test.yml"), "-e", "@%s" % (SCENARIO / "vars/main.yml")]
    for ev in extra:
        cmd += ["-e", json.dumps(ev)]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (name, proc.stdout[-4000:]))
    return round(time.monotonic() - start, 1), role_seconds(proc.stdout)


def under_load(name, *extra, ws=0):
    load = subprocess.Popen(
        ["docker", "exec", INSTANCE, "python3", "/usr/local/bin/divan-loadgen.py", "--rate", str(args.rate),
         "--ws", str(ws)] + sum((["--path", x] for x in PATHS), []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while subprocess.run(["docker", "exec", INSTANCE, "test", "-f", "/tmp/divan-loadgen.ready"], check=False).returncode != 0:
        if load.poll() is not None:
            sys.exit(load.communicate()[1])
        time.sleep(0.1)
    wall, role = playbook(name, *extra)
    sh("docker", "exec", INSTANCE, "touch", "/tmp/divan-loadgen.stop")
    out, err = load.communicate(timeout=180)
    if load.returncode != 0:
        sys.exit(err)
    return wall, role, json.loads(out)


sh("docker", "inspect", INSTANCE)
load_before = [round(x, 2) for x in os.getloadavg()]
sh("docker", "exec", INSTANCE, "systemctl", "start", "docker-registry")
playbook("deploy.yml", {"app_version": "1.0.0"})
deploy_wall, deploy_role, deploy = under_load("deploy.yml", {"app_version": "1.1.0"}, ws=args.ws)
sh("docker", "exec", INSTANCE, "systemctl", "stop", "docker-registry")
try:
    rollback_wall, rollback_role, rollback = under_load("rollback.yml", ws=args.ws)
finally:
    sh("docker", "exec", INSTANCE, "systemctl", "start", "docker-registry")
os.unlink(inventory.name)

reconnect = sorted(deploy["websocket"]["reconnect_ms"])
result = {
    "machine": {"host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
                "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "debian": Path("/etc/debian_version").read_text().strip(),
                "load_avg_before_1m_5m_15m": load_before,
                "load_avg_after_1m_5m_15m": [round(x, 2) for x in os.getloadavg()]},
    "setup": {"replicas": 2, "rate_per_s": args.rate, "websocket_sessions": args.ws,
              "paths": PATHS, "from": "1.0.0", "to": "1.1.0 (backend, frontend, activities-core)"},
    "redeploy": {"wall_s": deploy_wall, "role_s": deploy_role, "requests_sent": deploy["requests_sent"],
                 "requests_failed": deploy["requests_failed"], "failures": deploy["failures"],
                 "latency_p50_ms": deploy["latency_ms"]["p50"], "latency_p99_ms": deploy["latency_ms"]["p99"],
                 "latency_max_ms": deploy["latency_ms"]["max"],
                 "ws_sessions_dropped": deploy["websocket"]["drops"],
                 "ws_reconnect_ms_p50": reconnect[len(reconnect) // 2] if reconnect else None,
                 "ws_reconnect_ms_max": reconnect[-1] if reconnect else None},
    "rollback": {"wall_s": rollback_wall, "role_s": rollback_role, "requests_sent": rollback["requests_sent"],
                 "requests_failed": rollback["requests_failed"], "failures": rollback["failures"],
                 "latency_p50_ms": rollback["latency_ms"]["p50"], "latency_p99_ms": rollback["latency_ms"]["p99"],
                 "ws_sessions_dropped": rollback["websocket"]["drops"]},
}
text = json.dumps(result, indent=2)
print(text)
if args.json:
    Path(args.json).write_text(text + "\n")
d, r = result["redeploy"], result["rollback"]
print()
print("| measure | redeploy 1.0.0 -> 1.1.0 | rollback |")
print("|---|---|---|")
print("| wall time of the playbook (s) | %s | %s |" % (d["wall_s"], r["wall_s"]))
print("| of which divan.platform.app (s) | %s | %s |" % (d["role_s"], r["role_s"]))
print("| requests sent / failed | %d / %d | %d / %d |" % (d["requests_sent"], d["requests_failed"],
                                                          r["requests_sent"], r["requests_failed"]))
print("| latency p50 / p99 (ms) | %s / %s | %s / %s |" % (d["latency_p50_ms"], d["latency_p99_ms"],
                                                          r["latency_p50_ms"], r["latency_p99_ms"]))
# A drop is counted each time a session's replica is replaced: a session that
# reconnected to the replica replaced next drops again.
print("| WebSocket drops (%d sessions; one per replaced replica a session was on) | %d | %d |"
      % (args.ws, d["ws_sessions_dropped"], r["ws_sessions_dropped"]))
print("| WebSocket reconnect p50 / max (ms) | %s / %s | |" % (d["ws_reconnect_ms_p50"], d["ws_reconnect_ms_max"]))
print()
print("Machine: %(host)s, %(cpus)s CPUs, %(ram_gib)s GiB RAM, Debian %(debian)s, Linux %(kernel)s, "
      "load %(load_avg_before_1m_5m_15m)s before, %(load_avg_after_1m_5m_15m)s after" % result["machine"])
