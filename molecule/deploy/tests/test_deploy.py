"""Deploys and rollbacks without downtime, checked under load through Caddy.

Runs in file order on the converged host (release 1.0.0, two replicas per
service behind Caddy): playbooks/deploy.yml to 1.1.0 while the load
generator sends a steady stream of requests through Caddy and a WebSocket
session stays open on activities-core (whose image does not change), then
playbooks/rollback.yml under load with the registry stopped, a rollback whose
images are gone, and a deploy while the lock is held. Every playbook run
announces itself to a Slack-compatible webhook: a real HTTP receiver on the
test machine (deploy_notify_webhook_url), which records what arrives.
"""

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
from divan_scenario import ansible_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or SCENARIO.parents[1])
# Where the stand-in vendor repositories are (vars/main.yml's Caddy repository refers to it).
VENDOR_REPOS_VARS = SCENARIO.parent / "_shared" / "vars" / "vendor-repos.yml"
INSTANCE = "divan-deploy"
ROOT = "/opt/divan"
REGISTRY = "registry.divan.test:5000/divan"
SERVICES = {"backend": 8000, "frontend": 3000, "activities-core": 3001}
REPLICAS = {"": 0, "-2": 10}  # compose service suffix -> port offset
LOAD_PATHS = ["/api/version", "/", "/api/health/live"]


# The webhook's secret is in its path, as in Slack's incoming webhooks: it
# must never reach a message or the playbook's output.
WEBHOOK_SECRET = "T0DIVAN/B0DEPLOY/9f2c41d7e0a5b3c8d6e1f4a2"
RECEIVED = []


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RECEIVED.append({"path": self.path, "body": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


_SERVER = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
threading.Thread(target=_SERVER.serve_forever, daemon=True).start()
WEBHOOK_URL = "http://127.0.0.1:%d/services/%s" % (_SERVER.server_address[1], WEBHOOK_SECRET)


def events(since=0):
    return [r["body"]["divan"]["event"] for r in RECEIVED[since:]]


def playbook(name, *extra_vars):
    """Run playbooks/<name> (or a collection name: divan.platform.rollback) against the instance
    with the scenario's variables; return (rc, output)."""
    target = name if name.startswith("divan.platform.") else str(PROJECT / "playbooks" / name)
    return ansible_playbook(target, *extra_vars, args=[
        "-e", "@%s" % VENDOR_REPOS_VARS,
        "-e", "@%s" % (SCENARIO / "vars/test.yml"), "-e", "@%s" % (SCENARIO / "vars/main.yml"),
        "-e", "deploy_hosts=all", "-e", "deploy_notify_webhook_url=" + WEBHOOK_URL])


def flat(text):
    """Output with YAML line folding undone (messages wrap in the yaml result format)."""
    return " ".join(text.replace("'", " ").split())


class Load:
    """divan-loadgen.py inside the instance, through Caddy, while a playbook runs."""

    def __init__(self, ws=0, rate=50):
        self.proc = subprocess.Popen(
            ["docker", "exec", INSTANCE, "python3", "/usr/local/bin/divan-loadgen.py", "--rate", str(rate),
             "--ws", str(ws)] + sum((["--path", p] for p in LOAD_PATHS), []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _unused in range(300):
            if subprocess.run(["docker", "exec", INSTANCE, "test", "-f", "/tmp/divan-loadgen.ready"], check=False).returncode == 0:
                return
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.1)
        raise AssertionError("load generator did not start")

    def stop(self):
        subprocess.run(["docker", "exec", INSTANCE, "touch", "/tmp/divan-loadgen.stop"], check=True)
        out, err = self.proc.communicate(timeout=300)
        assert self.proc.returncode == 0, err
        return json.loads(out)


def under_load(name, *extra_vars, ws=0):
    load = Load(ws=ws)
    start = time.monotonic()
    rc, out = playbook(name, *extra_vars)
    wall = round(time.monotonic() - start, 1)
    figures = dict(load.stop(), playbook=name, playbook_wall_s=wall)
    # Kept for the record (bench/ prints such figures; nothing here asserts timings).
    logs = PROJECT / ".cache" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / ("deploy-verify-%s.json" % name.split(".")[0])).write_text(json.dumps(figures, indent=2) + "\n")
    return rc, out, figures


def version(host, port):
    out = host.check_output("curl -sf --max-time 10 http://127.0.0.1:%d/version" % port)
    return json.loads(out)["version"]


def through_caddy(host, path):
    return host.run("curl -s -o /dev/null -w '%%{http_code}' --max-time 10 "
                    "--cacert /var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt "
                    "https://divan.test%s" % path).stdout


def container_ids(host):
    return {line.split()[0]: line.split()[1] for line in
            host.check_output("docker ps -a --filter label=com.docker.compose.project=divan "
                              "--format '{{.Names}} {{.ID}}'").splitlines()}


def releases(host):
    return [json.loads(line) for line in host.file(ROOT + "/releases.log").content_string.splitlines() if line]


# --- the converged release ------------------------------------------------------------


def test_two_healthy_replicas_per_service(host):
    names = container_ids(host)
    expected = {"divan-%s%s-1" % (s, r) for s in SERVICES for r in REPLICAS}
    assert set(names) == expected, names
    for name in expected:
        assert host.check_output("docker inspect -f '{{.State.Health.Status}}' %s" % name) == "healthy", name
    for service, port in SERVICES.items():
        for suffix, offset in REPLICAS.items():
            bindings = host.check_output("docker port divan-%s%s-1 %d/tcp" % (service, suffix, port))
            assert bindings.splitlines() == ["127.0.0.1:%d" % (port + offset)], (service, suffix, bindings)


def test_caddy_lists_both_replicas_with_health_checks(host):
    caddyfile = host.file("/etc/caddy/Caddyfile").content_string
    for port in SERVICES.values():
        assert "reverse_proxy 127.0.0.1:%d 127.0.0.1:%d {" % (port, port + 10) in caddyfile, port
    assert "health_uri /health/live" in caddyfile and "lb_try_duration 15s" in caddyfile


def test_every_route_answers_through_caddy(host):
    for path in LOAD_PATHS:
        assert through_caddy(host, path) == "200", path


# --- deploy 1.1.0 under load --------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(host):
    del RECEIVED[:]
    before = container_ids(host)
    # activities-core keeps its image: its WebSocket session must stay open.
    rc, out, load = under_load(
        "deploy.yml", {"app_version": "1.1.0", "app_images": {"activities_core": REGISTRY + "/activities-core:1.0.0"}},
        ws=1)
    assert rc == 0, out[-5000:]
    return before, out, load


def test_deploy_loses_no_request(deployed):
    _unused, _unused, load = deployed
    # The load ran at its rate (Load: 50/s) for the whole playbook, however
    # long the rolling update takes (about 23 s here).
    assert load["requests_sent"] >= max(500, 0.9 * 50 * load["playbook_wall_s"]), load
    assert load["requests_failed"] == 0, load
    assert load["requests_ok"] == load["requests_sent"], load


def test_websocket_on_unchanged_service_stays_open(host, deployed):
    before, _unused, load = deployed
    assert load["websocket"]["drops"] == 0, load
    after = container_ids(host)
    for replica in REPLICAS:
        name = "divan-activities-core%s-1" % replica
        assert after[name] == before[name], name


def test_deploy_replaced_every_replica_of_the_changed_services(host, deployed):
    before, _unused, _unused = deployed
    after = container_ids(host)
    assert set(after) == set(before)  # old containers removed, none left over
    for service in ("backend", "frontend"):
        for replica, offset in REPLICAS.items():
            name = "divan-%s%s-1" % (service, replica)
            assert after[name] != before[name], name
            assert host.check_output("docker inspect -f '{{.Config.Image}}' %s" % name) == \
                "%s/%s:1.1.0" % (REGISTRY, service)
    for offset in REPLICAS.values():
        assert version(host, 8000 + offset) == "1.1.0"


def test_deploy_announced_to_the_webhook(deployed):
    _unused, out, _unused = deployed
    assert events() == ["start", "success"], RECEIVED
    start, success = (r["body"] for r in RECEIVED[:2])
    assert all(r["path"] == "/services/" + WEBHOOK_SECRET for r in RECEIVED[:2])
    assert start["divan"]["version"] == "1.1.0" and start["divan"]["previous_version"] == "1.0.0", start
    assert start["divan"]["hosts"] == [INSTANCE] and start["divan"]["site"] == "divan.test", start
    assert "deploy of 1.1.0 started" in start["text"], start
    assert success["divan"]["duration_seconds"] > 0 and "succeeded" in success["text"], success
    bodies = json.dumps([r["body"] for r in RECEIVED])
    for secret in (WEBHOOK_SECRET.rsplit("/", 1)[-1], "f4d46d50d5ba380deae054bd3ea9d8a2030a0a39944e1ea50ec781ef73b39552"):
        assert secret not in bodies and secret not in out


def test_deploy_recorded_and_lock_released(host, deployed):
    last = releases(host)[-1]
    assert last["action"] == "deploy" and last["identity"]["version"] == "1.1.0", last
    assert last["previous_version"] == "1.0.0" and last["previous"]["backend"] == REGISTRY + "/backend:1.0.0"
    assert not host.file(ROOT + "/deploy.lock").exists


# --- rollback under load, without the registry ----------------------------------------------


@pytest.fixture(scope="module")
def rolled_back(host, deployed):
    count = len(releases(host))
    # Nothing may be pulled: the registry is down for the rollback.
    host.check_output("systemctl stop docker-registry")
    sent = len(RECEIVED)
    try:
        rc, out, load = under_load("rollback.yml")
    finally:
        host.check_output("systemctl start docker-registry")
    assert rc == 0, out[-5000:]
    assert events(sent) == ["rollback"], RECEIVED[sent:]
    rollback = RECEIVED[sent]["body"]["divan"]
    assert rollback["version"] == "1.0.0" and rollback["previous_version"] == "1.1.0", rollback
    return count, load


def test_rollback_loses_no_request(rolled_back):
    _unused, load = rolled_back
    assert load["requests_sent"] > 0 and load["requests_failed"] == 0, load


def test_rollback_serves_the_previous_release(host, rolled_back):
    for offset in REPLICAS.values():
        assert version(host, 8000 + offset) == "1.0.0"
    for service in ("backend", "frontend", "activities-core"):
        assert host.check_output("docker inspect -f '{{.Config.Image}}' divan-%s-2-1" % service) == \
            "%s/%s:1.0.0" % (REGISTRY, service)


def test_rollback_recorded(host, rolled_back):
    count, _unused = rolled_back
    recs = releases(host)
    assert len(recs) == count + 1
    assert recs[-1]["action"] == "rollback" and recs[-1]["identity"]["version"] == "1.0.0", recs[-1]
    assert recs[-1]["previous_version"] == "1.1.0"


def test_rollback_stops_when_the_images_are_gone(host, rolled_back):
    # The previous release is now 1.1.0; drop one of its images from the host.
    host.check_output("docker image rm %s/frontend:1.1.0" % REGISTRY)
    count = len(releases(host))
    # By its collection name, as from an installed collection.
    rc, out = playbook("divan.platform.rollback")
    assert rc != 0
    assert "divan-deploy no longer has the image(s) %s/frontend:1.1.0 of release 1.1.0" % REGISTRY in flat(out), out[-3000:]
    assert "Nothing was changed" in flat(out)
    assert version(host, 8000) == "1.0.0"
    assert len(releases(host)) == count
    assert not host.file(ROOT + "/deploy.lock").exists


# --- one deploy at a time ------------------------------------------------------------------------


def test_deploy_refused_while_the_lock_is_held(host, rolled_back):
    # A live holder on another controller (its process cannot be checked from here).
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    owner = {"action": "deploy", "by": "lock-holder-test", "controller": "ci", "pid": 4242, "since": since,
             "since_epoch": time.time(), "token": "0" * 32}
    host.check_output("mkdir %s/deploy.lock && echo '%s' > %s/deploy.lock/owner.json" % (ROOT, json.dumps(owner), ROOT))
    try:
        rc, out = playbook("deploy.yml", {"app_version": "1.1.0", "deploy_lock_timeout": 3, "deploy_lock_poll": 1})
        assert rc != 0
        assert "is held by a deploy run by lock-holder-test from ci (process 4242) since %s" % since in flat(out), out[-3000:]
        assert "gave up after waiting 3 s" in flat(out) and "playbooks/unlock.yml" in flat(out), out[-3000:]
        # the refused run leaves the holder's lock alone and changes nothing
        assert host.file(ROOT + "/deploy.lock/owner.json").exists
        assert version(host, 8000) == "1.0.0"
    finally:
        host.check_output("rm -rf %s/deploy.lock" % ROOT)


def test_failed_deploy_is_recorded_and_releases_the_lock(host, rolled_back):
    # No such tag in the registry: the pull fails before anything restarts.
    count = len(releases(host))
    sent = len(RECEIVED)
    rc, out = playbook("divan.platform.deploy", {"app_version": "9.9.9"})
    assert rc != 0
    assert 'The deploy failed at "' in flat(out), out[-3000:]
    assert events(sent) == ["start", "failure"], RECEIVED[sent:]
    failure = RECEIVED[sent + 1]["body"]
    assert failure["divan"]["version"] == "9.9.9" and failure["divan"]["detail"].startswith('at "'), failure
    assert "9.9.9" in failure["text"] and "failed" in failure["text"], failure
    recs = releases(host)
    assert len(recs) == count + 1
    assert recs[-1]["action"] == "deploy-failed" and recs[-1]["version"] == "9.9.9", recs[-1]
    assert recs[-1]["failed_task"], recs[-1]
    assert version(host, 8000) == "1.0.0"
    assert not host.file(ROOT + "/deploy.lock").exists


# --- fewer replicas ------------------------------------------------------------------------------


def test_fewer_replicas_removes_the_extra_containers_last(host, rolled_back):
    # The last step of the rolling update removes the containers of services
    # no longer in the compose file; the first replicas are left running,
    # except the backend's: with one replica left, its share of the
    # database's connection budget grows (POSTGRES_MAX_POOL_SIZE 42 -> 50).
    firsts = {n: i for n, i in container_ids(host).items() if "-2-" not in n}
    try:
        rc, out = playbook("deploy.yml", {"app_version": "1.0.0", "app_replicas": 1})
        assert rc == 0, out[-3000:]
        after = container_ids(host)
        assert set(after) == set(firsts), after
        for name in firsts:
            assert (after[name] == firsts[name]) == (name != "divan-backend-1"), name
        env = json.loads(host.check_output("docker inspect -f '{{json .Config.Env}}' divan-backend-1"))
        assert "POSTGRES_MAX_POOL_SIZE=50" in env, env
        assert "backend-2" not in host.file(ROOT + "/compose.yaml").content_string
    finally:
        rc, out = playbook("deploy.yml", {"app_version": "1.0.0"})
    assert rc == 0, out[-3000:]
    assert set(container_ids(host)) == {"divan-%s%s-1" % (s, r) for s in SERVICES for r in REPLICAS}


# --- an interrupted deploy, a named rollback, image retention --------------------------------------


def test_interrupted_deploy_is_followed_by_a_deploy_with_no_manual_step(host, rolled_back):
    # Ctrl-C in the middle of a deploy: ansible-playbook skips its always:
    # sections and the lock stays; the next deploy sees the holder's process
    # gone, releases the lock, and removes what the interrupted run left.
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.Popen(
        ["ansible-playbook", "-i", INVENTORY, str(PROJECT / "playbooks/deploy.yml"),
         "-e", "@%s" % VENDOR_REPOS_VARS,
         "-e", "@%s" % (SCENARIO / "vars/test.yml"), "-e", "@%s" % (SCENARIO / "vars/main.yml"),
         "-e", "deploy_hosts=all", "-e", json.dumps({"app_version": "1.1.0"})],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _unused in range(600):
            if host.file(ROOT + "/deploy.lock/owner.json").exists:
                break
            time.sleep(0.1)
        time.sleep(4)  # into the app role: the pull, the migrations or the rolling update
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-3000:]
    assert host.file(ROOT + "/deploy.lock/owner.json").exists, out[-3000:]
    holder = json.loads(host.file(ROOT + "/deploy.lock/owner.json").content_string)
    assert holder["pid"] == proc.pid and holder["playbook"] == "playbooks/deploy.yml", holder
    rc, out = playbook("deploy.yml", {"app_version": "1.0.0"})
    assert rc == 0, out[-5000:]
    assert "released a stale deploy lock held by a deploy run by" in flat(out), out[-5000:]
    assert "(process %d, gone, playbook playbooks/deploy.yml)" % proc.pid in flat(out), out[-5000:]
    assert not host.file(ROOT + "/deploy.lock").exists
    assert host.run("docker ps -a --format '{{.Names}}' | grep divan-migrate").rc == 1
    for offset in REPLICAS.values():
        assert version(host, 8000 + offset) == "1.0.0"


def test_rollback_to_a_named_release(host, rolled_back):
    rc, out = playbook("deploy.yml", {"app_version": "1.1.0"})
    assert rc == 0, out[-3000:]
    # A release the host never ran: refused before any change.
    before = container_ids(host)
    rc, out = playbook("rollback.yml", {"deploy_release": "7.7.7"})
    assert rc != 0 and "divan-deploy never ran release 7.7.7" in flat(out), out[-3000:]
    assert container_ids(host) == before and not host.file(ROOT + "/deploy.lock").exists
    rc, out = playbook("rollback.yml", {"deploy_release": "1.0.0"})
    assert rc == 0, out[-3000:]
    for offset in REPLICAS.values():
        assert version(host, 8000 + offset) == "1.0.0"
    assert releases(host)[-1]["action"] == "rollback" and releases(host)[-1]["identity"]["version"] == "1.0.0"


def test_image_retention_keeps_the_last_releases(host, rolled_back):
    rc, out = playbook("deploy.yml", {"app_version": "1.1.0", "app_image_retention_keep": 1})
    assert rc == 0, out[-3000:]
    images = host.check_output("docker image ls --format '{{.Repository}}:{{.Tag}}'").splitlines()
    for service in SERVICES:
        assert "%s/%s:1.1.0" % (REGISTRY, service) in images, images
        assert "%s/%s:1.0.0" % (REGISTRY, service) not in images, images
    assert "Image retention: removed" in out, out[-3000:]
    # 1.0.0 is gone: a rollback to it is refused before any change.
    rc, out = playbook("rollback.yml")
    assert rc != 0 and "no longer has the image(s)" in flat(out), out[-3000:]
    for offset in REPLICAS.values():
        assert version(host, 8000 + offset) == "1.1.0"
