"""The full stack that site.yml builds, checked on the converged host.

The tests run in file order: first the platform that converge deployed
(release 1.0.0 pulled from the test registry, every route through Caddy),
then an inventory with a placeholder secret and one over the database's
connection budget (both stopped before the host is touched), a redeploy of
1.1.0 (an upload and a note kept, only the new migration applied, the seed
rows not duplicated), then releases whose migrations fail or are missing,
with the collection's runner and with the platform's own script (exit 0 and
"Error in"), which must stop before any container is replaced, then the
image with gunicorn, and images built on the host.

The stand-in images reproduce the real backend's flaws
(tests/fixtures/images/README.md): no gunicorn, /health/ready needs
schema_migrations, the platform's script re-runs every file, seeds
duplicate, uploads on local disk.
"""

import json
import re
import os
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
from divan_scenario import PROJECT, ansible_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = "/opt/divan"
TOKEN = "8f92489d44b527a6c400a4472038e38df897b6cd4ab68e6e415774039f8e547c"
PSQL = "sudo -u postgres psql -d divan -tAc "
CADDY_CA = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
SERVICES = {"backend": 8000, "frontend": 3000, "activities-core": 3001}


def converge(*extra_vars, tags="app", release_change=True):
    """Run site.yml (the scenario's converge) again with extra vars; return (rc, output).
    A new release through site.yml needs app_release_change (else the running release is kept):
    given unless release_change is false."""
    release = [{"app_release_change": True}] if release_change else []
    return ansible_playbook(SCENARIO / "converge.yml", *(list(extra_vars) + release), tags=tags)


def get(host, path, port=8000, headers=()):
    hdr = " ".join("-H '%s'" % h for h in headers)
    out = host.run("curl -s -o /tmp/body -w '%%{http_code}' --max-time 10 %s 'http://127.0.0.1:%d%s'" % (hdr, port, path))
    return out.stdout, host.file("/tmp/body").content_string


def version(host):
    code, body = get(host, "/version")
    assert code == "200", body
    return json.loads(body)["version"]


def via_caddy(host, path, headers=()):
    """GET https://divan.test<path> through Caddy, TLS verified against Caddy's local CA."""
    hdr = " ".join("-H '%s'" % h for h in headers)
    out = host.run(
        "curl -s -o /tmp/body -w '%%{http_code}' --max-time 10 --cacert %s --resolve divan.test:443:127.0.0.1 %s "
        "'https://divan.test%s'" % (CADDY_CA, hdr, path))
    return out.stdout, host.file("/tmp/body").content_string


def sql(host, query):
    return host.check_output(PSQL + "\"%s\"" % query)


def flat(text):
    """Output with YAML line folding undone (messages wrap in the yaml result format)."""
    return " ".join(text.replace("'", " ").split())


def releases(host):
    return [json.loads(line) for line in host.file(ROOT + "/releases.log").content_string.splitlines() if line]


def container_ids(host):
    return {s: host.check_output("docker inspect -f '{{.Id}}' divan-%s-1" % s) for s in SERVICES}


# --- the release converge deployed ------------------------------------------------


def test_every_service_runs_and_is_healthy(host):
    for service in SERVICES:
        state = host.check_output("docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' divan-%s-1" % service)
        assert state == "running healthy", (service, state)


SEEDS = {"activity_categories": "6", "site_settings": "1"}
MIGRATIONS_1_0_0 = ["001_extensions", "002_schema", "003_indexes", "020_seed_activity_categories",
                    "021_seed_site_settings"]


def test_backend_ready_through_loopback(host):
    # Redis PING, SELECT 1 and schema_migrations >= HEALTH_MIN_MIGRATION.
    code, body = get(host, "/health/ready")
    assert code == "200", body
    ready = json.loads(body)
    assert ready["status"] == "ok" and ready["migration"] == MIGRATIONS_1_0_0[-1], ready


def test_first_release_serves_1_0_0_from_the_registry(host):
    assert version(host) == "1.0.0"
    image = host.check_output("docker inspect -f '{{.Config.Image}}' divan-backend-1")
    assert image == "registry.divan.test:5000/divan/backend:1.0.0"


def test_ports_published_on_loopback_only(host):
    for service, port in SERVICES.items():
        bindings = host.check_output("docker port divan-%s-1 %d/tcp" % (service, port))
        assert bindings.splitlines() == ["127.0.0.1:%d" % port], (service, bindings)
    addrs = host.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1").split()
    assert addrs
    for addr in addrs:
        for port in SERVICES.values():
            assert host.run("curl -s -o /dev/null --max-time 3 http://%s:%d/" % (addr, port)).rc != 0, (addr, port)


def test_frontend_and_activities_core_answer(host):
    code, body = get(host, "/", port=3000)
    assert code == "200" and "https://divan.test/api" in body
    code, body = get(host, "/", port=3001)
    assert code == "200" and json.loads(body)["service"] == "activities-core"


def test_websockets_and_socket_io_answer(host):
    assert host.run("curl -sf -X POST --max-time 5 http://127.0.0.1:3001/activities/session/t1").rc == 0
    ws = host.run(
        "curl -si --max-time 2 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'"
        " -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:3001/activities/session/t1/stream"
        # the frame header bytes are binary: keep the printable text only
        " | LC_ALL=C tr -c '[:print:]\\n' '.'").stdout
    assert ws.startswith("HTTP/1.1 101") and '"session":"t1"' in ws.replace(" ", ""), ws
    code, body = get(host, "/socket.io/?EIO=4&transport=polling", port=8000)
    assert code == "200" and '"sid"' in body, body


def test_metrics_need_the_admin_token(host):
    assert get(host, "/metrics")[0] == "403"
    assert get(host, "/metrics", headers=["X-Admin-Token: wrong"])[0] == "403"
    code, body = get(host, "/metrics", headers=["Authorization: Bearer %s" % TOKEN])
    assert code == "200" and "divan_build_info" in body


def test_backend_runs_uvicorn_with_one_worker_in_an_image_without_gunicorn(host):
    # The image has no gunicorn and its /bin/sh is dash (command -v exits 127):
    # the probe still tells, and one worker keeps a Socket.IO session in one process.
    assert host.run("docker run --rm --entrypoint /bin/sh divan-test/backend:1.0.0 -c 'command -v gunicorn'").rc == 127
    cmd = json.loads(host.check_output("docker inspect -f '{{json .Config.Cmd}}' divan-backend-1"))
    assert cmd[0] == "uvicorn" and cmd[cmd.index("--workers") + 1] == "1", cmd
    code, body = get(host, "/version")
    assert json.loads(body)["server"] == "uvicorn", body


def test_pools_sized_to_the_connection_budget(host):
    # One host x 2 replicas (the default on a single app host) x 1 worker;
    # max_connections 100 - 15 reserved = 85: 42 connections per replica.
    env = host.file(ROOT + "/.env").content_string
    for line in ("UPLOAD_DIR='/app/app/uploads'", "POSTGRES_SSL='false'", "COMMUNITIES_WORKERS_ENABLED='false'"):
        assert line in env, line
    backend_env = json.loads(host.check_output("docker inspect -f '{{json .Config.Env}}' divan-backend-1"))
    for line in ("POSTGRES_MIN_POOL_SIZE=2", "POSTGRES_MAX_POOL_SIZE=42", "COMMUNITIES_WORKERS_ENABLED=true"):
        assert line in backend_env, line
    # The scheduled jobs run in replica 1 only.
    second_env = json.loads(host.check_output("docker inspect -f '{{json .Config.Env}}' divan-backend-2-1"))
    for line in ("POSTGRES_MAX_POOL_SIZE=42", "COMMUNITIES_WORKERS_ENABLED=false"):
        assert line in second_env, line
    code, body = get(host, "/version")
    info = json.loads(body)
    assert info["pool"] == {"min": 2, "max": 42} and info["communities_workers"] is True, info


def test_containers_restart_always_with_limits(host):
    for service in SERVICES:
        cfg = json.loads(host.check_output("docker inspect -f '{{json .HostConfig}}' divan-%s-1" % service))
        assert cfg["RestartPolicy"]["Name"] == "always"
        assert cfg["Memory"] > 0 and cfg["NanoCpus"] > 0, service


def test_a_backend_that_answers_nothing_is_replaced(host):
    # Like a backend whose workers all died (TooManyConnectionsError): the
    # process is there, nothing answers. Docker's restart policy alone never
    # fires; the health check stops the container after 3 silent checks.
    def state():
        return json.loads(host.check_output("docker inspect -f '{{json .State}}' divan-backend-1"))
    restarts = int(host.check_output("docker inspect -f '{{.RestartCount}}' divan-backend-1"))
    pid = state()["Pid"]
    children = host.check_output("ps -o pid= --ppid %d" % pid).split()
    assert children, "no backend process under docker-init"
    host.run_expect([0], "kill -STOP %s" % " ".join(children))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = int(host.check_output("docker inspect -f '{{.RestartCount}}' divan-backend-1"))
        if now > restarts and state().get("Health", {}).get("Status") == "healthy":
            break
        time.sleep(3)
    assert now > restarts, state()
    assert state()["Health"]["Status"] == "healthy", state()
    assert get(host, "/health/ready")[0] == "200"


def test_env_file_is_private_and_secrets_stay_out_of_compose(host):
    env = host.file(ROOT + "/.env")
    assert env.mode == 0o600 and env.user == "root"
    assert "OBS_ADMIN_TOKEN='%s'" % TOKEN in env.content_string
    assert TOKEN not in host.file(ROOT + "/compose.yaml").content_string


def test_migrations_ran_exactly_once(host):
    # converge, idempotence and --check ran: the seeds were inserted once.
    assert sql(host, "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == \
        ",".join(MIGRATIONS_1_0_0)
    assert sql(host, "SELECT count(*) FROM schema_migrations WHERE checksum ~ '^[0-9a-f]{64}$'") == "5"
    for table, rows in SEEDS.items():
        assert sql(host, "SELECT count(*) FROM %s" % table) == rows, table
    assert host.run("docker ps -a --format '{{.Names}}' | grep divan-migrate").rc == 1


def test_one_release_recorded_for_three_runs(host):
    # converge, idempotence and --check ran: only the first changed anything.
    recs = releases(host)
    assert len(recs) == 1, recs
    assert recs[0]["identity"]["version"] == "1.0.0"
    assert recs[0]["identity"]["image_ids"]["backend"].startswith("sha256:")
    current = json.loads(host.file(ROOT + "/current-release.json").content_string)
    assert current["identity"] == recs[0]["identity"]
    assert current["migrations_applied"] == [m + ".sql" for m in MIGRATIONS_1_0_0]
    assert current["migrations"]["identity"]["image_id"] == current["identity"]["image_ids"]["backend"]


# --- through Caddy, as a browser meets it ---------------------------------------


@pytest.mark.parametrize("path,expect", [
    ("/", "https://divan.test/api"),          # frontend, built with the production API URL
    ("/health/live", '"status"'),             # backend
    ("/health/ready", '"status":"ok"'),       # backend: Redis, PostgreSQL, schema_migrations
    ("/api/version", '"version":"1.0.0"'),    # backend, /api prefix stripped
    ("/socket.io/?EIO=4&transport=polling", '"sid"'),
])
def test_every_route_answers_through_caddy(host, path, expect):
    code, body = via_caddy(host, path)
    assert code == "200", (path, code, body[:300])
    assert expect in body.replace(" ", ""), (path, body[:300])


def test_frontend_points_at_production_urls_not_localhost(host):
    code, body = via_caddy(host, "/")
    assert code == "200" and "localhost" not in body and "127.0.0.1" not in body, body[:500]


@pytest.mark.parametrize("path", ["/metrics", "/api/metrics"])
def test_metrics_are_not_public_through_caddy(host, path):
    code, _body = via_caddy(host, path, headers=["Authorization: Bearer %s" % TOKEN])
    assert code in ("403", "404"), (path, code)


def caddy_headers(host, path):
    out = host.check_output(
        "curl -s -D - -o /dev/null --max-time 10 --cacert %s --resolve divan.test:443:127.0.0.1 "
        "'https://divan.test%s'" % (CADDY_CA, path))
    return {k.strip().lower(): v.strip() for k, _sep, v in (line.partition(":") for line in out.splitlines()[1:]) if _sep}


def put_upload(host, path, body):
    return host.check_output(
        "printf %%s '%s' | curl -s -o /dev/null -w '%%{http_code}' --max-time 10 --cacert %s "
        "--resolve divan.test:443:127.0.0.1 -X PUT --data-binary @- 'https://divan.test/uploads/%s'"
        % (body, CADDY_CA, path))


def test_an_uploaded_html_file_does_not_run_as_the_site(host):
    # Anyone may PUT (the application's flaw): the proxy serves it sandboxed.
    assert put_upload(host, "site-test/page.html", "<script>document.title='owned'</script>") == "201"
    headers = caddy_headers(host, "/uploads/site-test/page.html")
    csp = headers.get("content-security-policy", "")
    assert "sandbox" in csp or headers.get("content-disposition", "").startswith("attachment"), headers
    # Not the site's policy: no script may run (inline styles do no harm in a sandbox).
    assert "default-src 'none'" in csp and "script-src" not in csp, headers
    assert headers.get("x-content-type-options") == "nosniff", headers
    assert host.file("/srv/divan/uploads/site-test/page.html").exists


def test_site_verification_play_passes(host):
    # site.yml's last step (divan.platform.verify, auth flow off) on its own,
    # with the layout the app and caddy roles publish (tagged always): every
    # route, TLS, headers, WebSockets through Caddy, the backend, SMTP and S3.
    rc, out = converge(tags="verify")
    assert rc == 0, out[-4000:]
    summary = re.search(r"VERIFY SUMMARY https://divan.test: (\d+) pass, (\d+) fail, (\d+) skip", out)
    assert summary and int(summary.group(1)) >= 10 and summary.group(2) == "0", out[-4000:]
    # The Socket.IO polls are counted, not retried; an unknown activities
    # session is refused with 1008; the application's limits are stated.
    for needle in ("PASS | websockets: Socket.IO", "1008", "needs an application change"):
        assert needle in out, (needle, out[-4000:])


# --- drift between runs ------------------------------------------------------------


def role_task_result(out, role, task):
    """The first result line after TASK [divan.platform.<role> : <task>] in a playbook's output."""
    m = re.search(r"TASK \[divan\.platform\.%s : %s\][^\n]*\n(\S+)" % (role, re.escape(task)), out)
    return m.group(1) if m else None


def test_drift_is_restored_and_the_next_run_changes_nothing(host):
    # A package removed, a unit stopped and disabled, a folder's mode and a
    # configuration's content and owner changed since the last run must be
    # put back by the next run, and the run after that must change nothing.
    # The apt and systemd_service tasks are skipped only for what
    # divan.platform.host_info confirmed; the file tasks always run.
    assert host.run("apt-get remove -y python3-docker && systemctl disable --now redis-server").rc == 0
    assert host.run("chmod 0700 /etc/docker && echo '# drift' >> /etc/redis/redis.conf"
                    " && chown root /etc/redis/redis.conf").rc == 0
    assert not host.package("python3-docker").is_installed
    rc, out = converge(tags="docker,redis")
    assert rc == 0, out[-4000:]
    for role, task in [("docker", "Install Docker Engine and compose v2 from Debian's packages"),
                       ("redis", "Start Redis now and at boot"),
                       ("docker", "Create /etc/docker"),
                       ("redis", "Write the Redis configuration")]:
        assert role_task_result(out, role, task) == "changed:", (task, out[-4000:])
    assert host.package("python3-docker").is_installed
    redis = host.service("redis-server")
    assert redis.is_running and redis.is_enabled
    assert host.file("/etc/docker").mode == 0o755
    conf = host.file("/etc/redis/redis.conf")
    assert conf.user == "redis" and conf.mode == 0o640 and "# drift" not in conf.content_string
    rc, out = converge(tags="docker,redis")
    assert rc == 0, out[-4000:]
    assert re.search(r"divan-site\s+:.*changed=0 ", out), out[-1500:]
    for role, task in [("docker", "Install Docker Engine and compose v2 from Debian's packages"),
                       ("docker", "Set the docker service's boot and run state"),
                       ("redis", "Install Redis"),
                       ("redis", "Start Redis now and at boot")]:
        assert role_task_result(out, role, task) == "skipping:", (task, out[-4000:])
    for role, task in [("docker", "Create /etc/docker"),
                       ("docker", "Write /etc/docker/daemon.json"),
                       ("redis", "Write the Redis configuration")]:
        assert role_task_result(out, role, task) == "ok:", (task, out[-4000:])
    status, body = get(host, "/health/ready")
    assert status == "200", body


# --- an inventory with a placeholder secret ---------------------------------------


def test_placeholder_secret_stops_before_the_host_is_touched(host):
    before = container_ids(host)
    env_before = host.file(ROOT + "/.env").content_string
    rc, out = converge({"vault_secret_key": "CHANGE_ME_to_a_long_random_value", "app_version": "1.1.0"}, tags="")
    assert rc != 0, out[-3000:]
    assert "SECRET_KEY" in out and "placeholder" in out.lower(), out[-3000:]
    assert "CHANGE_ME_to_a_long_random_value" not in out
    # The run stopped in the preflight play: no play ran on the host.
    assert "PLAY [Docker Engine" not in out, out[-3000:]
    assert container_ids(host) == before
    assert host.file(ROOT + "/.env").content_string == env_before
    assert version(host) == "1.0.0"


def test_pools_over_the_connection_budget_stop_before_the_host_is_touched(host):
    # 2 replicas x 50 connections > 85: refused in the preflight, with the numbers.
    before = container_ids(host)
    env_before = host.file(ROOT + "/.env").content_string
    rc, out = converge({"app_backend_pool_max_size": 50, "app_replicas": 2}, tags="")
    assert rc != 0, out[-3000:]
    assert "2 backend processes" in out and "up to 100" in out and "the budget is 85" in out, out[-3000:]
    assert "PLAY [Docker Engine" not in out, out[-3000:]
    assert container_ids(host) == before
    assert host.file(ROOT + "/.env").content_string == env_before


# --- a redeploy with a new release ------------------------------------------------


@pytest.fixture(scope="module")
def redeployed(host):
    code, body = get(host, "/notes", headers=["Content-Type: application/json"])
    assert code == "200", body
    note = host.check_output(
        "curl -sf -X POST -H 'Content-Type: application/json' -d '{\"body\": \"written by 1.0.0\"}' "
        "http://127.0.0.1:8000/notes")
    assert put_upload(host, "site-test/kept.txt", "uploaded before the redeploy") == "201"
    rc, out = converge({"app_version": "1.1.0"})
    assert rc == 0, out[-4000:]
    return json.loads(note), out


def test_redeploy_serves_the_new_release(host, redeployed):
    assert version(host) == "1.1.0"
    assert get(host, "/health/ready")[0] == "200"


def test_redeploy_ran_only_the_new_migration_and_no_seed_twice(host, redeployed):
    assert sql(host, "SELECT count(*) FROM schema_migrations") == "6"
    assert sql(host, "SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1") == "022_notes_author"
    for table, rows in SEEDS.items():
        assert sql(host, "SELECT count(*) FROM %s" % table) == rows, table
    assert json.loads(host.file(ROOT + "/current-release.json").content_string)["migrations_applied"] == \
        ["022_notes_author.sql"]


def test_an_upload_survives_the_redeploy(host, redeployed):
    code, body = via_caddy(host, "/uploads/site-test/kept.txt")
    assert code == "200" and body == "uploaded before the redeploy", (code, body)


def test_data_survives_the_redeploy(host, redeployed):
    note, _out = redeployed
    code, body = get(host, "/notes")
    assert code == "200"
    assert {"id": note["id"], "body": "written by 1.0.0"} in json.loads(body)


def test_redeploy_recorded_with_the_previous_release(host, redeployed):
    recs = releases(host)
    assert len(recs) == 2
    assert recs[1]["identity"]["version"] == "1.1.0"
    assert recs[1]["previous"]["backend"].endswith("/backend:1.0.0")


def test_site_yml_keeps_the_running_release(host, redeployed):
    # The inventory still says 1.0.0: site.yml keeps 1.1.0 and says so, and changes nothing.
    before = container_ids(host)
    rc, out = converge(release_change=False)
    assert rc == 0, out[-4000:]
    assert "runs release 1.1.0; the inventory asks for 1.0.0. site.yml keeps the running release" in flat(out), out[-4000:]
    assert re.search(r"divan-site\s+:.*changed=0 ", out), out[-1500:]
    assert version(host) == "1.1.0" and container_ids(host) == before
    assert len(releases(host)) == 2


def task_result(out, task):
    """The first result line after TASK [divan.platform.app : <task>] in a playbook's output."""
    m = re.search(r"TASK \[divan\.platform\.app : %s\][^\n]*\n(\S+)" % re.escape(task), out)
    return m.group(1) if m else None


def test_same_release_again_changes_nothing_and_skips_the_image_probe(host, redeployed):
    # The backend image is the one the release record names: its server is
    # known, so no probe container runs; nothing changes.
    rc, out = converge({"app_version": "1.1.0"})
    assert rc == 0, out[-4000:]
    assert re.search(r"divan-site\s+:.*changed=0 ", out), out[-1500:]
    assert task_result(out, "Look for gunicorn in the backend image") == "skipping:", out[-4000:]
    # The same image and runner were migrated before: no migrations container.
    assert task_result(out, "Apply the pending migrations with the collection's runner") == "skipping:", out[-4000:]
    assert releases(host)[-1]["identity"]["backend_command"][0] == "uvicorn"


# --- releases whose migrations fail or are missing ----------------------------------


def archive_release(tag):
    return {
        "app_image_source": "archive",
        "app_image_archives": [str(PROJECT / (".cache/images/divan-standin-%s.tar" % tag))],
        "app_images": {
            "backend": "divan-test/backend:%s" % tag,
            "frontend": "divan-test/frontend:1.1.0",
            "activities_core": "divan-test/activities-core:1.1.0",
        },
    }


BROKEN = archive_release("broken-migration")
MISSING = archive_release("no-migrations")
# The platform's own script (tests/fixtures/images/backend/scripts), as the
# real platform ships it: every file on every run, "Error in" and exit 0.
PLATFORM = {"app_migrations_runner": "platform",
            "app_migrations_scripts_src": str(PROJECT / "tests/fixtures/images/backend/scripts")}


def _assert_nothing_replaced(host, before_ids, out):
    assert container_ids(host) == before_ids, out[-3000:]
    assert version(host) == "1.1.0"
    assert get(host, "/health/ready")[0] == "200"
    assert len(releases(host)) == 2
    assert sql(host, "SELECT count(*) FROM schema_migrations") == "6"
    for tag in ("broken-migration", "no-migrations"):
        assert tag not in host.file(ROOT + "/compose.yaml").content_string


def test_failing_migration_stops_the_deploy(host, redeployed):
    before = container_ids(host)
    rc, out = converge({"app_version": "1.1.0"}, BROKEN)
    assert rc != 0, out[-3000:]
    assert "The migrations with divan-test/backend:broken-migration failed" in out
    assert "apply: exit status 1" in out and "FAILED 023_broken" in out and "does not exist" in out, out[-3000:]
    # The archive was delivered and loaded, as production without a registry would.
    assert host.file("/opt/divan/images/divan-standin-broken-migration.tar").exists
    _assert_nothing_replaced(host, before, out)
    for table, rows in SEEDS.items():
        assert sql(host, "SELECT count(*) FROM %s" % table) == rows, table


def test_failing_migration_leaves_a_dump_that_the_printed_command_restores(host, redeployed):
    # A row written before the failed deploy, the database changed after it,
    # then the command the failure printed: the database is back at the dump.
    kept = sql(host, "WITH n AS (INSERT INTO notes (body) VALUES ('before the dump') RETURNING id) SELECT id FROM n")
    rc, out = converge({"app_version": "1.1.0"}, BROKEN)
    assert rc != 0, out[-3000:]
    found = re.search(r"The dump taken before the migrations: (/var/backups/divan-pre-migrate/divan-1[.]1[.]0-\d{8}T\d{6}Z[.]dump) "
                      r"on divan-site[.] To restore the database to it: ssh divan-site sudo (runuser -u postgres -- pg_restore .*?[.]dump)",
                      flat(out))
    assert found, out[-3000:]
    dump, restore = found.groups()
    assert restore.endswith(" " + dump) and "--dbname=divan" in restore, restore
    assert host.file(dump).user == "postgres" and host.file(dump).size > 0
    sql(host, "DELETE FROM notes WHERE id = %s" % kept)
    sql(host, "INSERT INTO notes (body) VALUES ('after the dump')")
    host.run_expect([0], restore)
    assert sql(host, "SELECT count(*) FROM notes WHERE id = %s AND body = 'before the dump'" % kept) == "1"
    assert sql(host, "SELECT count(*) FROM notes WHERE body = 'after the dump'") == "0"
    assert sql(host, "SELECT count(*) FROM schema_migrations") == "6"
    for _unused in range(20):
        if get(host, "/health/ready")[0] == "200":
            break
        time.sleep(0.5)
    assert get(host, "/health/ready")[0] == "200"


def test_missing_migrations_folder_stops_the_deploy(host, redeployed):
    before = container_ids(host)
    rc, out = converge({"app_version": "1.1.0"}, MISSING)
    assert rc != 0, out[-3000:]
    assert "The migrations with divan-test/backend:no-migrations failed" in out
    assert "migrations directory not found" in out, out[-3000:]
    _assert_nothing_replaced(host, before, out)


def test_missing_migrations_folder_stops_the_platform_script_too(host, redeployed):
    # The platform's script would print "Migrations directory not found" and exit 0.
    before = container_ids(host)
    rc, out = converge({"app_version": "1.1.0"}, MISSING, PLATFORM)
    assert rc != 0, out[-3000:]
    assert "migrations directory not found" in out, out[-3000:]
    _assert_nothing_replaced(host, before, out)


def test_platform_script_errors_with_exit_0_still_stop_the_deploy(host, redeployed):
    # The platform's script prints "Error in 023_broken.sql: ..." and exits 0;
    # it also re-ran every other file, so its seeds were inserted again
    # (the real script's flaw, which the collection's runner avoids).
    before = container_ids(host)
    rc, out = converge({"app_version": "1.1.0"}, BROKEN, PLATFORM)
    assert rc != 0, out[-3000:]
    assert "platform: exit status 0, output matches app_migrations_fail_pattern" in out, out[-3000:]
    assert "Error in 023_broken.sql" in out, out[-3000:]
    _assert_nothing_replaced(host, before, out)
    assert sql(host, "SELECT count(*) FROM activity_categories") == "12"


def test_archive_with_an_ids_file_is_not_copied_again(host, redeployed):
    # Its .ids file names image IDs the host has: no checksum, no copy, no load.
    assert (PROJECT / ".cache/images/divan-standin-broken-migration.tar.ids").is_file()
    host.run_expect([0], "rm -f /opt/divan/images/divan-standin-broken-migration.tar")
    rc, out = converge({"app_version": "1.1.0"}, BROKEN)
    assert rc != 0, out[-3000:]
    assert task_result(out, "Copy the image archives") == "skipping:", out[-4000:]
    assert task_result(out, "Load the archives (an image is missing, or an archive changed)") == "skipping:"
    assert not host.file("/opt/divan/images/divan-standin-broken-migration.tar").exists
    # The migration still runs (and fails) with the image already on the host.
    assert "The migrations with divan-test/backend:broken-migration failed" in out


# --- the backend image with gunicorn -----------------------------------------------


def test_image_with_gunicorn_runs_gunicorn(host, redeployed):
    rc, out = converge({"app_version": "1.1.0"}, archive_release("gunicorn"),
                       {"app_images": {"backend": "divan-test/backend:1.0.0-gunicorn",
                                       "frontend": "divan-test/frontend:1.1.0",
                                       "activities_core": "divan-test/activities-core:1.1.0"}})
    assert rc == 0, out[-4000:]
    cmd = json.loads(host.check_output("docker inspect -f '{{json .Config.Cmd}}' divan-backend-1"))
    assert cmd[0] == "gunicorn" and "uvicorn.workers.UvicornWorker" in cmd and cmd[cmd.index("--workers") + 1] == "1"
    code, body = via_caddy(host, "/health/ready")
    assert code == "200", body
    assert json.loads(get(host, "/version")[1])["server"] == "gunicorn"
    # Its older migration set is a subset of what is applied: nothing ran again.
    for table, rows in (("activity_categories", "12"), ("site_settings", "2")):
        assert sql(host, "SELECT count(*) FROM %s" % table) == rows, table


# --- images built on the host from a source checkout ------------------------------


def test_build_on_the_host_bakes_the_site_urls(host, redeployed):
    # The frontend's NEXT_PUBLIC_* build arguments come from app_public_url;
    # app_build_args still wins for the one it names.
    rc, out = converge({
        "app_version": "1.2.0",
        "app_image_source": "build",
        "app_image_repository": "divan-built",
        "app_build_src": str(SCENARIO / "files" / "build-src"),
        "app_build_args": {"frontend": {"NEXT_PUBLIC_API_BASE_URL": "https://divan.test/api/v2"}},
    })
    assert rc == 0, out[-4000:]
    image = host.check_output("docker inspect -f '{{.Config.Image}}' divan-frontend-1")
    assert image == "divan-built/frontend:1.2.0"
    labels = host.check_output("docker image inspect -f '{{json .Config.Labels}}' divan-built/frontend:1.2.0")
    assert json.loads(labels).get("divan.built-on-host") == "true"
    code, body = via_caddy(host, "/")
    assert code == "200"
    assert '"NEXT_PUBLIC_API_BASE_URL":"https://divan.test/api/v2"' in body.replace(" ", ""), body[:800]
    assert '"NEXT_PUBLIC_ACTIVITIES_CORE_SOCKET_URL":"wss://divan.test/activities"' in body.replace(" ", ""), body[:800]
    assert "localhost" not in body
    assert releases(host)[-1]["identity"]["version"] == "1.2.0"
