"""Bench: the platform's own redeploy (docker compose up -d, one replica each)
against playbooks/deploy.yml (two replicas, rolling), side by side in one run
under the same load through Caddy (printed figures, not a test).

Reuses the molecule `deploy` scenario's instance (divan-deploy, the test
registry with releases 1.0.0 and 1.1.0):
    molecule --env-file molecule/deploy/env.yml converge -s deploy
    python3 bench/redeploy_side_by_side.py [--rate 100] [--ws 20] [--json out.json]

Half A, the platform's way: playbooks/deploy.yml to 1.0.0 with app_replicas=1
and Caddy's upstreams made again from that layout (one address per service);
then, under load, the image tags of <app_root>/compose.yaml are rewritten to
1.1.0 and `docker compose up -d` runs in <app_root> (what the platform's
README does: pull, recreate every container). Its wall time runs from the
rewrite until every service answers again through Caddy with 1.1.0.
Half B, deploy.yml: back to 1.0.0 with app_replicas=2 (Caddy again), then,
under the same load, playbooks/deploy.yml to 1.1.0 (pull, migrations, one
replica at a time); its wall time is the playbook's, start-up included, until
every service answers (at once, the playbook waits for the replicas).
Before each half the 1.1.0 references are removed from the instance's Docker,
so that both halves pull them from the registry.
The load, the same for both halves: molecule/deploy/files/divan-loadgen.py
inside the instance (copied there first), GETs through Caddy at --rate per
second and --ws WebSocket sessions on activities-core; it reports requests
sent and failed, the longest gap (longest time with no successful response)
and the WebSocket drops. The load runs from before the redeploy starts until
TAIL_S seconds after every service answers again.
Prints one JSON document and a markdown table.
"""
import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "molecule" / "deploy"
INSTANCE = "divan-deploy"
PATHS = ["/api/version", "/", "/api/health/live"]
SERVICES = ["backend", "frontend", "activities-core"]
TAIL_S = 2.0  # load kept running after every service answers again, in both halves

p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
p.add_argument("--rate", type=float, default=100)
p.add_argument("--ws", type=int, default=20)
p.add_argument("--json", help="also write the JSON here")
p.add_argument("--app-root", default="/opt/divan", help="app_root on the instance (default /opt/divan)")
args = p.parse_args()

env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
           ANSIBLE_NOCOLOR="1", MOLECULE_PROJECT_DIRECTORY=str(ROOT),
           PATH="%s:%s" % (ROOT / ".venv/bin", os.environ.get("PATH", "")))
work = tempfile.mkdtemp(prefix="divan-bench-sbs-")
inventory = Path(work, "inventory.yml")
# The instance is an app host and a proxy host (molecule/deploy/env.yml);
# divan_proxy lets the Caddy play below, and deploy.yml's notification site,
# read it. One host in both groups: deploy.yml drains nothing.
inventory.write_text("all:\n  hosts:\n    %s:\n      ansible_connection: community.docker.docker\n"
                     "  children:\n    divan_app: {hosts: {%s: {}}}\n    divan_proxy: {hosts: {%s: {}}}\n"
                     % (INSTANCE, INSTANCE, INSTANCE))
# Caddy's upstreams come from app_layout (app_replicas): deploy.yml does not
# touch Caddy, so the replica count of each half is given to Caddy here, as
# the scenario's converge does.
caddy_playbook = Path(work, "caddy.yml")
caddy_playbook.write_text(
    "- import_playbook: %s\n"
    "- name: Caddy's upstreams from the layout\n  hosts: divan_proxy\n  gather_facts: true\n"
    "  roles:\n    - role: divan.platform.caddy\n" % (ROOT / "playbooks" / "layout.yml"))

# Inside the instance: waits until every service answers through Caddy (the
# backend with the expected release), prints the seconds it waited.
PROBE = r'''
import http.client, json, socket, ssl, sys, time
want, ca = sys.argv[1], "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
ctx = ssl.create_default_context(cafile=ca)
def ask(method, path):
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=20), server_hostname="divan.test")
    conn = http.client.HTTPSConnection("divan.test", 443, timeout=20)
    conn.sock = sock
    conn.request(method, path, headers={"Host": "divan.test", "Content-Length": "0"} if method == "POST" else {"Host": "divan.test"})
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    return resp.status, body
def answers():
    checks = [("GET", "/api/version", lambda s, b: s == 200 and json.loads(b).get("version") == want),
              ("GET", "/api/health/live", lambda s, b: s == 200),
              ("GET", "/", lambda s, b: s == 200),
              ("POST", "/activities/session/bench-probe", lambda s, b: s in (200, 201))]
    for method, path, ok in checks:
        try:
            if not ok(*ask(method, path)):
                return False
        except Exception:
            return False
    return True
start = time.monotonic()
while not answers():
    if time.monotonic() - start > 300:
        sys.exit("the services did not all answer within 300 s")
    time.sleep(0.1)
print(round(time.monotonic() - start, 2))
'''


def sh(*cmd, check=True):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if check and proc.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-4000:]))
    return proc.stdout


def in_instance(script, check=True):
    return sh("docker", "exec", INSTANCE, "sh", "-ec", script, check=check)


def playbook(path, *extra):
    """ansible-playbook with the scenario's variable files (as bench/deploy_under_load.py); wall seconds."""
    cmd = ["ansible-playbook", "-i", str(inventory), str(path),
           "-e", "@%s" % (SCENARIO.parent / "_shared/vars/vendor-repos.yml"),
           "-e", "@%s" % (SCENARIO / "vars/test.yml"), "-e", "@%s" % (SCENARIO / "vars/main.yml")]
    for ev in extra:
        cmd += ["-e", json.dumps(ev)]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (path, proc.stdout[-4000:]))
    return round(time.monotonic() - start, 1)


def wait_for_services(version):
    return float(sh("docker", "exec", INSTANCE, "python3", "-c", PROBE, version).strip().splitlines()[-1])


def start_load():
    load = subprocess.Popen(
        ["docker", "exec", INSTANCE, "python3", "/usr/local/bin/divan-loadgen.py", "--rate", str(args.rate),
         "--ws", str(args.ws)] + sum((["--path", x] for x in PATHS), []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while subprocess.run(["docker", "exec", INSTANCE, "test", "-f", "/tmp/divan-loadgen.ready"],
                         check=False).returncode != 0:
        if load.poll() is not None:
            sys.exit("the load generator stopped: %s" % load.communicate()[1])
        time.sleep(0.1)
    return load


def stop_load(load):
    time.sleep(TAIL_S)
    sh("docker", "exec", INSTANCE, "touch", "/tmp/divan-loadgen.stop")
    out, err = load.communicate(timeout=180)
    if load.returncode != 0:
        sys.exit("the load generator failed: %s" % err)
    result = json.loads(out)
    if "longest_gap_ms" not in result:
        sys.exit("the instance's load generator reports no longest_gap_ms: copy molecule/deploy/files/divan-loadgen.py")
    return result


def upstreams():
    """The replica addresses in Caddy's configuration, per service (from its ports)."""
    caddyfile = in_instance("cat /etc/caddy/Caddyfile")
    layout = {"backend": 8000, "frontend": 3000, "activities-core": 3001}
    return {svc: sorted({"127.0.0.1:%d" % (base + 10 * k) for k in range(9)
                         if "127.0.0.1:%d" % (base + 10 * k) in caddyfile}) for svc, base in layout.items()}


def prepare(replicas):
    """1.0.0 with `replicas` replicas per service, Caddy's upstreams to match, 1.1.0 not on the host."""
    playbook(ROOT / "playbooks" / "deploy.yml", {"app_version": "1.0.0", "app_replicas": replicas})
    playbook(caddy_playbook, {"app_version": "1.0.0", "app_replicas": replicas})
    found = upstreams()
    if any(len(v) != replicas for v in found.values()):
        sys.exit("Caddy's upstreams do not list %d replica(s) per service: %s" % (replicas, found))
    refs = in_instance("docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '/divan/[a-z-]+:1[.]1[.]0$' || true")
    if refs.split():
        in_instance("docker image rm %s >/dev/null" % " ".join(shlex.quote(r) for r in refs.split()))
    wait_for_services("1.0.0")
    return found


def half(name, replicas, redeploy):
    found = prepare(replicas)
    load_before = [round(x, 2) for x in os.getloadavg()]
    load = start_load()
    start = time.monotonic()
    step_s = redeploy()
    answered_s = wait_for_services("1.1.0")
    wall = round(time.monotonic() - start, 1)
    res = stop_load(load)
    reconnect = sorted(res["websocket"]["reconnect_ms"])
    return {
        "how": name, "replicas": replicas, "caddy_upstreams": found,
        "load_avg_before_1m_5m_15m": load_before,
        "wall_s": wall, "command_s": step_s, "answered_after_command_s": answered_s,
        "requests_sent": res["requests_sent"], "requests_failed": res["requests_failed"],
        "failure_ratio": round(res["requests_failed"] / res["requests_sent"], 4) if res["requests_sent"] else None,
        "failures": res["failures"], "stale_keepalive_retries": sum(res["stale_keepalive_retries"].values()),
        "longest_gap_ms": res["longest_gap_ms"], "longest_gap_start_s": res["longest_gap_start_s"],
        "longest_gap_by_path_ms": res["longest_gap_by_path_ms"],
        "longest_gap_one_path_ms": max(res["longest_gap_by_path_ms"].values()),
        "latency_p50_ms": res["latency_ms"]["p50"], "latency_p99_ms": res["latency_ms"]["p99"],
        "latency_max_ms": res["latency_ms"]["max"], "load_seconds": res["seconds"],
        "ws_sessions_dropped": res["websocket"]["drops"],
        "ws_reconnect_ms_p50": reconnect[len(reconnect) // 2] if reconnect else None,
        "ws_reconnect_ms_max": reconnect[-1] if reconnect else None,
    }


def compose_up():
    """The platform's way: the new tags in compose.yaml, then docker compose up -d in app_root."""
    start = time.monotonic()
    in_instance("cd %s && sed -i -E 's#^( +image: .*/divan/[a-z-]+):1[.]0[.]0$#\\1:1.1.0#' compose.yaml && "
                "test $(grep -cE '^ +image: .*:1[.]1[.]0$' compose.yaml) -eq 3 && docker compose up -d --quiet-pull"
                % shlex.quote(args.app_root))
    return round(time.monotonic() - start, 1)


def deploy_yml():
    return playbook(ROOT / "playbooks" / "deploy.yml", {"app_version": "1.1.0", "app_replicas": 2})


sh("docker", "inspect", INSTANCE)
# The load generator of this tree (the instance holds the one of its prepare step).
sh("docker", "cp", str(SCENARIO / "files" / "divan-loadgen.py"), "%s:/usr/local/bin/divan-loadgen.py" % INSTANCE)
sh("docker", "exec", INSTANCE, "systemctl", "start", "docker-registry")
machine_load_before = [round(x, 2) for x in os.getloadavg()]
try:
    platform_way = half("docker compose up -d (the platform's README)", 1, compose_up)
    deploy_way = half("playbooks/deploy.yml (rolling)", 2, deploy_yml)
finally:
    for f in (inventory, caddy_playbook):
        f.unlink()
    os.rmdir(work)

result = {
    "machine": {"host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
                "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "debian": Path("/etc/debian_version").read_text().strip(),
                "load_avg_before_1m_5m_15m": machine_load_before,
                "load_avg_after_1m_5m_15m": [round(x, 2) for x in os.getloadavg()]},
    "setup": {"rate_per_s": args.rate, "websocket_sessions": args.ws, "paths": PATHS, "from": "1.0.0",
              "to": "1.1.0 (backend, frontend, activities-core)", "tail_s": TAIL_S,
              "images": "1.1.0 removed from the instance before each half: both pull from the test registry"},
    "platform_compose_up": platform_way,
    "deploy_yml": deploy_way,
}
text = json.dumps(result, indent=2)
print(text)
if args.json:
    Path(args.json).write_text(text + "\n")
a, b = platform_way, deploy_way
rows = [
    ("replicas per service (Caddy upstreams)", "replicas", "%s"),
    ("wall time of the redeploy, until every service answers with 1.1.0 (s)", "wall_s", "%s"),
    ("of which the command (s)", "command_s", "%s"),
    ("requests sent", "requests_sent", "%d"),
    ("requests failed", "requests_failed", "%d"),
    ("failure ratio", "failure_ratio", "%s"),
    ("longest gap without a successful response, any path (ms)", "longest_gap_ms", "%s"),
    ("longest gap of one path (ms)", "longest_gap_one_path_ms", "%s"),
    ("latency p50 / p99 / max (ms)", None, None),
    ("WebSocket drops (%d sessions)" % args.ws, "ws_sessions_dropped", "%d"),
    ("WebSocket reconnect p50 / max (ms)", None, None),
]
print()
print("| measure | `docker compose up -d` (platform) | `playbooks/deploy.yml` |")
print("|---|---|---|")
for label, key, fmt in rows:
    if key:
        print("| %s | %s | %s |" % (label, fmt % a[key], fmt % b[key]))
    elif label.startswith("latency"):
        print("| %s | %s / %s / %s | %s / %s / %s |" % (
            label, a["latency_p50_ms"], a["latency_p99_ms"], a["latency_max_ms"],
            b["latency_p50_ms"], b["latency_p99_ms"], b["latency_max_ms"]))
    else:
        print("| %s | %s / %s | %s / %s |" % (label, a["ws_reconnect_ms_p50"], a["ws_reconnect_ms_max"],
                                              b["ws_reconnect_ms_p50"], b["ws_reconnect_ms_max"]))
print()
print("Machine: %(host)s, %(cpus)s CPUs, %(ram_gib)s GiB RAM, Debian %(debian)s, Linux %(kernel)s, "
      "load %(load_avg_before_1m_5m_15m)s before, %(load_avg_after_1m_5m_15m)s after" % result["machine"])
