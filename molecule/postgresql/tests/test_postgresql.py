"""What divan.platform.postgresql promises, checked on the converged host.

The tests run in file order: read-only checks first, then a restart and a
second converge with data in place, then the collation drift repair, then
backup and restore (which swaps the database last).
"""

import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]
DB = "divan"
OWNER = "divan"
PASSWORD = "divan-test-password-0123456789"
RUNTIME = "divan_app"
RUNTIME_PASSWORD = "divan-app-test-password-987654"
UNIT = "postgresql@17-main"


def sql(host, query, db=DB):
    """Run a query as postgres over the socket; return stdout (unaligned, tuples only)."""
    cmd = host.run("runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -Atd %s -c %s" % (db, _q(query)))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def _q(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def tcp(host, user, password, query="SELECT current_user", db=DB):
    env = "PGPASSWORD=%s " % _q(password) if password is not None else ""
    return host.run("%spsql -X -w -h 127.0.0.1 -U %s -Atd %s -c %s" % (env, user, db, _q(query)))


def ansible_playbook(playbook, *extra):
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".collections")
    env["ANSIBLE_ROLES_PATH"] = str(ROOT / "roles")
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["NO_COLOR"] = "1"
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)] + list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


# ---- install, locale, cluster ------------------------------------------------------------

def test_server_running_and_enabled(host):
    svc = host.service(UNIT)
    assert svc.is_running
    assert svc.is_enabled
    assert host.package("postgresql-17").is_installed


def test_cluster_was_recreated_with_the_locale(host):
    # prepare.yml left a C.UTF-8 cluster; the role must have replaced it.
    assert sql(host, "SELECT datcollate || '|' || datctype || '|' || pg_encoding_to_char(encoding) "
                     "FROM pg_database WHERE datname = 'template1'", db="postgres") == "en_US.UTF-8|en_US.UTF-8|UTF8"


def test_new_clusters_get_the_locale(host):
    conf = host.file("/etc/postgresql-common/createcluster.conf").content_string
    assert "\ninitdb_options = '--locale=en_US.UTF-8 --encoding=UTF8'\n" in conf


def test_app_database_locale_and_encoding(host):
    row = sql(host, "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype "
                    "FROM pg_database WHERE datname = 'divan'", db="postgres")
    assert row == "divan|UTF8|en_US.UTF-8|en_US.UTF-8"
    # The locale really sorts like en_US (case-insensitive first pass), not bytewise like C.
    assert sql(host, "SELECT string_agg(x, ',' ORDER BY x) FROM (VALUES ('b'), ('B'), ('a')) v(x)") == "a,b,B"


def test_no_collation_mismatch(host):
    # As PostgreSQL sees it: a recorded version that differs (template0 records none).
    assert sql(host, "SELECT count(*) FROM pg_database WHERE datcollversion IS NOT NULL AND datcollversion "
                     "IS DISTINCT FROM pg_database_collation_actual_version(oid)", db="postgres") == "0"
    assert sql(host, "SELECT datcollversion IS NOT NULL FROM pg_database WHERE datname = 'divan'") == "t"


def test_server_log_is_rotated_by_logrotate(host):
    # Debian's postgresql-common logs to /var/log/postgresql and rotates it with
    # logrotate (a Recommends of postgresql-common: without it the log grows forever).
    assert host.package("logrotate").is_installed
    assert host.service("logrotate.timer").is_enabled
    conf = "/etc/logrotate.d/postgresql-common"
    assert "/var/log/postgresql/*.log" in host.file(conf).content_string
    log = "/var/log/postgresql/postgresql-17-main.log"
    assert host.file(log).exists
    debug = host.run("logrotate -d -s /tmp/logrotate-test.state %s" % conf)
    assert debug.rc == 0 and "error" not in debug.stderr.lower(), debug.stderr
    assert log in debug.stderr + debug.stdout
    # A forced rotation (own state file) keeps the server logging into the fresh file.
    host.run_test("logrotate -f -s /tmp/logrotate-test.state %s" % conf)
    assert host.file(log + ".1").exists
    host.run_test("runuser -u postgres -- psql -X -Atd %s -c %s" % (DB, _q("DO $$BEGIN RAISE LOG 'divan-logrotate-probe'; END$$")))
    for _unused in range(20):
        if "divan-logrotate-probe" in host.file(log).content_string:
            break
        time.sleep(0.5)
    assert "divan-logrotate-probe" in host.file(log).content_string


# ---- access --------------------------------------------------------------------------------

def test_listen_addresses_named_never_star(host):
    assert sql(host, "SHOW listen_addresses") == "localhost, 172.17.0.1"
    listening = host.check_output("ss -Hltn 'sport = :5432'")
    assert "0.0.0.0:5432" not in listening and "*:5432" not in listening, listening
    assert "127.0.0.1:5432" in listening


def test_password_encryption_scram(host):
    assert sql(host, "SHOW password_encryption") == "scram-sha-256"
    hashes = sql(host, "SELECT rolname || ' ' || left(rolpassword, 13) FROM pg_authid "
                       "WHERE rolname IN ('divan', 'divan_app') ORDER BY 1")
    assert hashes.splitlines() == ["divan SCRAM-SHA-256", "divan_app SCRAM-SHA-256"]


def test_pg_hba_scram_only_no_trust(host):
    rules = sql(host, "SELECT type, array_to_string(database, ','), array_to_string(user_name, ','), "
                      "coalesce(address, ''), coalesce(netmask, ''), auth_method, coalesce(error, '') "
                      "FROM pg_hba_file_rules ORDER BY rule_number", db="postgres").splitlines()
    assert rules, "pg_hba.conf has no rules"
    methods = {r.split("|")[5] for r in rules}
    assert methods == {"peer", "scram-sha-256"}, rules
    assert not [r for r in rules if r.split("|")[6]], rules
    peer = [r for r in rules if r.endswith("|peer|")]
    assert peer == ["local|all|postgres|||peer|"], rules
    assert "host|divan|divan|172.17.0.0|255.255.0.0|scram-sha-256|" in rules
    assert "host|divan|divan_app|10.89.0.0|255.255.255.0|scram-sha-256|" in rules
    assert "trust" not in host.file("/etc/postgresql/17/main/pg_hba.conf").content_string


def test_owner_connects_over_tcp_with_its_password(host):
    out = tcp(host, OWNER, PASSWORD)
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "divan"


def test_refused_with_a_wrong_password(host):
    out = tcp(host, OWNER, PASSWORD + "x")
    assert out.rc != 0
    assert 'password authentication failed for user "divan"' in out.stderr


def test_refused_without_a_password(host):
    out = tcp(host, OWNER, None)
    assert out.rc != 0
    assert "no password supplied" in out.stderr


def test_runtime_role_has_data_access_only(host):
    sql(host, "SET ROLE divan; CREATE TABLE IF NOT EXISTS access_probe (id int PRIMARY KEY, v text)")
    ok = tcp(host, RUNTIME, RUNTIME_PASSWORD,
             "INSERT INTO access_probe VALUES (1, 'x') ON CONFLICT DO NOTHING; SELECT count(*) FROM access_probe")
    assert ok.rc == 0, ok.stderr
    refused = tcp(host, RUNTIME, RUNTIME_PASSWORD, "CREATE TABLE runtime_made (id int)")
    assert refused.rc != 0
    assert "permission denied for schema public" in refused.stderr
    dropped = tcp(host, RUNTIME, RUNTIME_PASSWORD, "DROP TABLE access_probe")
    assert "must be owner" in dropped.stderr


# ---- tuning --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("shared_buffers", "256MB"),          # 1024 MB / 4
    ("effective_cache_size", "768MB"),    # 3/4
    ("maintenance_work_mem", "64MB"),     # max(64, 1024/16)
    ("work_mem", "4MB"),                  # max(4, (1024-256)/(3*100))
    ("max_connections", "100"),
])
def test_memory_settings_in_effect(host, name, value):
    assert sql(host, "SHOW %s" % name) == value
    assert sql(host, "SELECT pending_restart FROM pg_settings WHERE name = '%s'" % name) == "f"


def test_backup_timer_active(host):
    timer = host.service("divan-postgresql-backup.timer")
    assert timer.is_enabled and timer.is_running
    assert host.file("/var/backups/postgresql").user == "postgres"
    assert host.file("/var/backups/postgresql").mode == 0o700


# ---- data survives a restart and a second converge ------------------------------------

def test_data_from_the_first_converge_survived_the_second(host):
    # converge.yml wrote this row once (the idempotence step's converge left it alone).
    assert sql(host, "SELECT v FROM survivor") == "written by the first converge"


def test_data_survives_a_restart(host):
    pid = host.check_output("systemctl show -p MainPID --value %s" % UNIT)
    host.run_test("systemctl restart %s" % UNIT)
    for _unused in range(30):
        if host.run("runuser -u postgres -- pg_isready -q").rc == 0:
            break
        time.sleep(1)
    assert host.check_output("systemctl show -p MainPID --value %s" % UNIT) != pid
    assert sql(host, "SELECT v FROM survivor") == "written by the first converge"


# ---- collation version drift --------------------------------------------------------------

def _index_filenode(host):
    return sql(host, "SELECT relfilenode FROM pg_class WHERE relname = 'drift_words_idx'")


def test_collation_drift_is_detected_and_repaired(host):
    sql(host, "SET ROLE divan; CREATE TABLE IF NOT EXISTS drift_words (w text); "
              "CREATE INDEX IF NOT EXISTS drift_words_idx ON drift_words (w); "
              "INSERT INTO drift_words SELECT 'w' || g FROM generate_series(1, 100) g")
    before = _index_filenode(host)
    # Pretend the C library changed since the database was created.
    sql(host, "UPDATE pg_database SET datcollversion = '0.0' WHERE datname = 'divan'", db="postgres")
    warned = host.run("runuser -u postgres -- psql -X -d divan -Atc 'SELECT 1'")
    assert 'database "divan" has a collation version mismatch' in warned.stderr, warned.stderr

    report = host.ansible("divan.platform.postgresql_collation", "databases=divan",
                          check=False, become=True, become_user="postgres")
    assert report["changed"] is False
    assert [d["name"] for d in report["database_mismatches"]] == ["divan"]
    assert report["database_mismatches"][0]["recorded_version"] == "0.0"
    assert report["actions"][0]["sql"] == 'REINDEX DATABASE "divan"'
    assert _index_filenode(host) == before, "a report-only run must not reindex"

    checked = host.ansible("divan.platform.postgresql_collation", "databases=divan fix=true",
                           check=True, become=True, become_user="postgres")
    assert checked["changed"] is True
    assert _index_filenode(host) == before, "check mode must not reindex"

    fixed = host.ansible("divan.platform.postgresql_collation", "fix=true",
                         check=False, become=True, become_user="postgres")
    assert fixed["changed"] is True
    assert fixed["remaining_mismatches"] == 0
    assert [a["kind"] for a in fixed["actions"]] == ["reindex", "refresh_database"]

    clean = host.run("runuser -u postgres -- psql -X -d divan -Atc 'SELECT 1'")
    assert clean.rc == 0 and "collation version mismatch" not in clean.stderr, clean.stderr
    assert _index_filenode(host) != before, "the index was not rebuilt"
    assert sql(host, "SELECT datcollversion = pg_database_collation_actual_version(oid) "
                     "FROM pg_database WHERE datname = 'divan'") == "t"

    again = host.ansible("divan.platform.postgresql_collation", "fix=true",
                         check=False, become=True, become_user="postgres")
    assert again["changed"] is False and again["actions"] == []


# ---- backup and restore -------------------------------------------------------------------

def _dumps(host):
    out = host.run("ls -1 /var/backups/postgresql/divan/")
    return sorted(n for n in out.stdout.split() if n.endswith(".dump"))


def test_backup_then_restore_brings_the_row_back(host):
    sql(host, "SET ROLE divan; CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, body text); "
              "DELETE FROM notes; INSERT INTO notes VALUES (1, 'keep me')")
    before = _dumps(host)
    host.run_test("systemctl start divan-postgresql-backup.service")
    after = _dumps(host)
    assert len(after) == len(before) + 1, (before, after)
    newest = "/var/backups/postgresql/divan/" + after[-1]
    assert host.file(newest).user == "postgres" and host.file(newest).mode == 0o600
    host.run_test("runuser -u postgres -- pg_restore --list %s | grep -q 'TABLE DATA public notes'" % newest)

    # Lose the row, then restore the newest dump and swap it in.
    sql(host, "UPDATE notes SET body = 'damaged' WHERE id = 1; INSERT INTO notes VALUES (2, 'after backup')")
    rc, out = ansible_playbook(ROOT / "playbooks" / "restore.yml",
                               "-e", "restore_hosts=all", "-e", "restore_swap=true")
    assert rc == 0, out[-4000:]
    assert sql(host, "SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM notes") == "1:keep me"
    aside = sql(host, "SELECT datname FROM pg_database WHERE datname LIKE 'divan_before_restore_%'", db="postgres")
    assert aside, "the previous database was not kept"
    assert sql(host, "SELECT body FROM notes WHERE id = 2", db=aside) == "after backup"
    # The restored database keeps the owner, the locale and the data access of the runtime role.
    assert sql(host, "SELECT pg_get_userbyid(datdba) || '|' || datcollate FROM pg_database "
                     "WHERE datname = 'divan'", db="postgres") == "divan|en_US.UTF-8"
    ok = tcp(host, RUNTIME, RUNTIME_PASSWORD, "SELECT body FROM notes WHERE id = 1")
    assert ok.rc == 0 and ok.stdout.strip() == "keep me", ok.stderr


def test_backup_retention_keeps_the_newest(host):
    for _unused in range(4):
        host.run_test("systemctl start divan-postgresql-backup.service")
        time.sleep(1.1)  # one dump per second at most (the name has seconds)
    assert len(_dumps(host)) == 3  # postgresql_backup_keep in converge.yml
