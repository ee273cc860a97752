"""What divan.platform.backup promises, on the converged host: the backups and its restore entry points.

The tests run in file order: configuration, then real backup runs against the
moto S3 server on the instance (dump service, backup service, retention, a
failing upload), then the restore drill (playbooks/restore-drill.yml, the
role's restore-drill entry point), passing, with a check query of its own and
on a corrupt dump, then playbooks/restore.yml (the restore-fresh-db entry
point).
"""

import json
import os
import subprocess
from pathlib import Path

import testinfra.utils.ansible_runner
import yaml

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]
VARS = yaml.safe_load((SCENARIO / "vars/main.yml").read_text())
DB = VARS["postgresql_database_name"]
BUCKET = VARS["backup_s3_bucket"]
PREFIX = VARS["backup_s3_prefix"]
SECRETS = [VARS["backup_s3_access_key"], VARS["backup_s3_secret_key"],
           VARS["backup_uploads_secret_key"], VARS["postgresql_database_password"]]
UPLOADS = {"avatars/alice.png", "avatars/bob.png", "documents/terms.txt"}
STATUS = "/var/lib/divan-backup/last-run.json"
REPORT = "/var/lib/divan-backup/restore-drill.json"
GARBAGE = "%s/postgresql/%s/%s-29991231T235959Z.dump" % (PREFIX, DB, DB)


def _q(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def sql(host, query, db=DB):
    cmd = host.run("runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -Atd %s -c %s" % (db, _q(query)))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def s3(host, code):
    """Run boto3 code inside the instance against the test S3 server; return its JSON output."""
    script = ("import boto3, json\n"
              "s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:9000', region_name='us-east-1',"
              " aws_access_key_id=%r, aws_secret_access_key=%r)\n"
              % (VARS["backup_s3_access_key"], VARS["backup_s3_secret_key"]) + code)
    cmd = host.run("python3 -c %s" % _q(script))
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def objects(host, bucket, prefix=""):
    """{key: etag} of a bucket (below prefix, keys relative to it)."""
    return s3(host, "p = s3.get_paginator('list_objects_v2')\n"
                    "print(json.dumps({o['Key'][%d:]: o['ETag'] for page in p.paginate(Bucket=%r, Prefix=%r)"
                    " for o in page.get('Contents', [])}))" % (len(prefix), bucket, prefix))


def start(host, unit):
    return host.run("systemctl start %s" % unit)


def local_dumps(host):
    out = host.check_output("ls -1 /var/backups/postgresql/%s/ | grep '^%s-.*\\.dump$' | sort" % (DB, DB))
    return out.split()


def status(host):
    return json.loads(host.file(STATUS).content_string)


def drill(*extra, playbook=str(ROOT / "playbooks" / "restore-drill.yml")):
    """Run the restore drill (by default through its file name; or e.g. divan.platform.restore_drill)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1")
    cmd = ["ansible-playbook", "-v", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
           playbook, "-e", "@%s" % (SCENARIO / "vars/main.yml"),
           "-e", "restore_drill_hosts=all"] + list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def assert_no_secret(text):
    for secret in SECRETS:
        assert secret not in text


def flat(text):
    return " ".join(text.split())


# ---- configuration ------------------------------------------------------------------------

def test_rclone_installed_and_config_root_only(host):
    assert host.package("rclone").is_installed
    conf = host.file("/etc/divan-backup/rclone.conf")
    assert conf.user == "root" and conf.mode == 0o600
    assert host.file("/etc/divan-backup").mode == 0o700
    text = conf.content_string
    assert "[backup]" in text and "[uploads]" in text
    assert "endpoint = http://127.0.0.1:9000" in text and "endpoint = http://10.199.0.1:9000" in text


def test_no_secret_outside_the_config(host):
    for path in ["/usr/local/sbin/divan-backup", "/etc/systemd/system/divan-backup.service",
                 "/etc/systemd/system/divan-backup.timer"]:
        assert_no_secret(host.file(path).content_string)


def test_timer_active_with_the_configured_schedule(host):
    timer = host.service("divan-backup.timer")
    assert timer.is_running and timer.is_enabled
    props = host.check_output("systemctl show divan-backup.timer -p TimersCalendar -p Persistent -p RandomizedDelayUSec")
    assert "OnCalendar=*-*-* 04:10:00" in props
    assert "Persistent=yes" in props
    assert "RandomizedDelayUSec=5min" in props
    unit = host.check_output("systemctl show divan-backup.service -p After")
    assert "divan-postgresql-backup.service" in unit


# ---- backup runs --------------------------------------------------------------------------

def test_backup_uploads_the_dump_and_the_uploads_bucket(host):
    sql(host, "CREATE TABLE IF NOT EXISTS schema_migrations (filename text PRIMARY KEY);"
              "INSERT INTO schema_migrations VALUES ('0001_init.sql'), ('0002_items.sql') ON CONFLICT DO NOTHING;"
              "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, v text);"
              "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 250) g ON CONFLICT DO NOTHING;"
              "ALTER TABLE items OWNER TO divan; ALTER TABLE schema_migrations OWNER TO divan")
    assert start(host, "divan-postgresql-backup.service").rc == 0
    run = start(host, "divan-backup.service")
    assert run.rc == 0, host.run("journalctl -u divan-backup.service -n 30 --no-pager").stdout
    newest = local_dumps(host)[-1]
    dumps = objects(host, BUCKET, "%s/postgresql/%s/" % (PREFIX, DB))
    assert newest in dumps
    source = objects(host, "divan-uploads", "uploads/")
    copied = objects(host, BUCKET, "%s/uploads/" % PREFIX)
    # Only the uploads prefix of the bucket is copied.
    assert "elsewhere/not-an-upload.txt" in objects(host, "divan-uploads")
    assert set(source) == UPLOADS
    assert set(copied) == UPLOADS
    for key in UPLOADS:
        assert copied[key] == source[key], key  # same ETag (MD5 of single-part objects)
    st = status(host)
    assert st["result"] == "ok"
    assert st["postgresql"][DB]["newest"] == newest and st["postgresql"][DB]["uploaded"] >= 1
    assert st["uploads"]["source"]["count"] == 3 and st["uploads"]["backup"]["count"] == 3
    assert st["uploads"]["from"] == "bucket"
    assert host.file(STATUS).mode == 0o600


def test_second_run_uploads_nothing_new(host):
    before = objects(host, BUCKET, "%s/postgresql/%s/" % (PREFIX, DB))
    assert start(host, "divan-backup.service").rc == 0
    st = status(host)
    assert st["postgresql"][DB]["uploaded"] == 0
    assert objects(host, BUCKET, "%s/postgresql/%s/" % (PREFIX, DB)) == before


def test_remote_retention_keeps_the_newest(host):
    for _unused in range(2):
        host.run("sleep 1.1")
        assert start(host, "divan-postgresql-backup.service").rc == 0
        assert start(host, "divan-backup.service").rc == 0
    remote = sorted(objects(host, BUCKET, "%s/postgresql/%s/" % (PREFIX, DB)))
    assert len(remote) == VARS["backup_postgresql_remote_keep"] == 2
    assert remote == local_dumps(host)[-2:]
    assert status(host)["postgresql"][DB]["deleted"] >= 1


def test_failed_upload_fails_the_service_loudly(host):
    before = host.file(STATUS).content_string
    dropin = "/run/systemd/system/divan-backup.service.d"
    host.run_test("mkdir -p %s && printf '%%s\\n' '[Service]' "
                  "'Environment=RCLONE_CONFIG_BACKUP_ENDPOINT=http://127.0.0.1:9' "
                  "'Environment=RCLONE_RETRIES=1' 'Environment=RCLONE_LOW_LEVEL_RETRIES=1' "
                  "> %s/unreachable.conf && systemctl daemon-reload" % (dropin, dropin))
    try:
        host.run("sleep 1.1")
        assert start(host, "divan-postgresql-backup.service").rc == 0
        run = start(host, "divan-backup.service")
        assert run.rc != 0
        assert host.run("systemctl is-failed divan-backup.service").stdout.strip() == "failed"
        journal = host.run("journalctl -u divan-backup.service -n 40 --no-pager").stdout
        assert "divan-backup: FAILED" in journal
        assert_no_secret(journal)
        assert host.file(STATUS).content_string == before
    finally:
        host.run("rm -rf %s && systemctl daemon-reload && systemctl reset-failed divan-backup.service" % dropin)
    # Back to normal: the new dump goes up.
    assert start(host, "divan-backup.service").rc == 0
    assert status(host)["postgresql"][DB]["newest"] == local_dumps(host)[-1]


# ---- restore drill ------------------------------------------------------------------------

def test_restore_drill_passes_and_reports(host):
    rc, out = drill()
    assert rc == 0, out[-4000:]
    assert "Restore drill OK" in out
    assert_no_secret(out)
    report = json.loads(host.file(REPORT).content_string)
    (ROOT / ".cache" / "logs").mkdir(parents=True, exist_ok=True)
    (ROOT / ".cache" / "logs" / "backup-drill-report.json").write_text(json.dumps(report, indent=2))
    assert report["result"] == "ok"
    assert report["dump"] == "s3://%s/%s/postgresql/%s/%s" % (BUCKET, PREFIX, DB, local_dumps(host)[-1])
    assert report["row_counts"] == {"public.items": 250, "public.schema_migrations": 2}
    assert "public.items=250" in flat(out)
    assert report["check_result"] == [[{"count": 2}], [{"count": 2}]]
    assert report["uploads_source_objects"] == 3 and report["uploads_backup_objects"] == 3
    assert report["uploads_sample"] in UPLOADS
    assert report["restore_seconds"] is not None and report["dump_bytes"] > 0
    # The live database is untouched, the scratch database gone.
    assert sql(host, "SELECT count(*) FROM items") == "250"
    assert sql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE '%drill%'", db="postgres") == "0"
    assert host.run("ls -d /tmp/divan-drill.* 2>/dev/null").stdout.strip() == ""


def test_restore_drill_runs_the_given_check_query(host):
    """By its collection name, as from an installed collection, with the role's drill variables."""
    rc, out = drill("-e", json.dumps({"backup_restore_drill_check_query": "SELECT count(*) AS n FROM public.items WHERE id > 200",
                                      "backup_restore_drill_uploads": False}),
                    playbook="divan.platform.restore_drill")
    assert rc == 0, out[-4000:]
    assert "Restore drill OK" in out
    report = json.loads(host.file(REPORT).content_string)
    assert report["result"] == "ok"
    assert report["check_query"] == "SELECT count(*) AS n FROM public.items WHERE id > 200"
    assert report["check_result"] == [[{"n": 50}], [{"n": 50}]]
    # backup_restore_drill_uploads=false: the uploads copy is not looked at.
    assert report["uploads_source_objects"] is None and report["uploads_sample"] is None
    assert sql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE '%drill%'", db="postgres") == "0"


def test_restore_drill_fails_on_a_corrupt_newest_dump(host):
    s3(host, "s3.put_object(Bucket=%r, Key=%r, Body=b'not a dump' * 100)\nprint('{}')" % (BUCKET, GARBAGE))
    try:
        rc, out = drill()
        assert rc != 0
        assert 'Restore drill FAILED at step "Restore the dump"' in flat(out)
        assert_no_secret(out)
        report = json.loads(host.file(REPORT).content_string)
        assert report["result"] == "failed" and report["failed_step"] == "Restore the dump"
        assert report["dump"].endswith(GARBAGE)
        assert sql(host, "SELECT count(*) FROM items") == "250"
        assert sql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE '%drill%'", db="postgres") == "0"
    finally:
        s3(host, "s3.delete_object(Bucket=%r, Key=%r)\nprint('{}')" % (BUCKET, GARBAGE))


def test_restore_playbook_uses_the_shared_restore_tasks(host):
    """playbooks/restore.yml (without swap) through the role's restore-fresh-db entry point, shared with the drill."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                           str(ROOT / "playbooks" / "restore.yml"), "-e", "restore_hosts=all"],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert sql(host, "SELECT count(*) FROM items", db=DB + "_restore") == "250"
        assert sql(host, "SELECT pg_get_userbyid(datdba) || '|' || datcollate FROM pg_database "
                         "WHERE datname = '%s_restore'" % DB, db="postgres") == \
            sql(host, "SELECT pg_get_userbyid(datdba) || '|' || datcollate FROM pg_database "
                      "WHERE datname = '%s'" % DB, db="postgres")
    finally:
        sql(host, "DROP DATABASE IF EXISTS %s_restore" % DB, db="postgres")


# ---- local uploads (app_uploads_storage local: a folder, not a bucket) -------------------
# Runs last: it reconverges the host with the uploads in a folder, as
# divan.platform.app publishes them with local storage (app_uploads).

FOLDER = "/srv/divan/uploads"
FOLDER_FILES = {"avatars/carol.png": "carol " * 300, "notes/readme.txt": "Divan local upload\n"}
LOCAL_APP = json.dumps({"backup_uploads_app": {"storage": "local", "dir": FOLDER, "container_dir": "/app/app/uploads"}})


def converge(*extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1")
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "converge.yml")] + list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def test_local_uploads_folder_is_backed_up_and_drilled(host):
    for name, content in FOLDER_FILES.items():
        path = FOLDER + "/" + name
        host.run_test("mkdir -p %s && printf '%%s' %s > %s" % (_q(os.path.dirname(path)), _q(content), _q(path)))
    rc, out = converge("-e", LOCAL_APP)
    assert rc == 0, out[-4000:]
    assert_no_secret(out)
    conf = host.file("/etc/divan-backup/rclone.conf").content_string
    assert "[backup]" in conf and "[uploads]" not in conf
    script = host.file("/usr/local/sbin/divan-backup").content_string
    assert "source_bucket=%s" % FOLDER in script
    run = start(host, "divan-backup.service")
    assert run.rc == 0, host.run("journalctl -u divan-backup.service -n 30 --no-pager").stdout
    st = status(host)
    assert st["uploads"]["from"] == "folder" and st["uploads"]["source"]["count"] == len(FOLDER_FILES)
    copied = objects(host, BUCKET, "%s/uploads/" % PREFIX)
    md5 = {name: host.check_output("md5sum %s | cut -d' ' -f1" % _q(FOLDER + "/" + name)) for name in FOLDER_FILES}
    for name in FOLDER_FILES:
        assert copied.get(name, "").strip('"') == md5[name], (name, copied)
    rc, out = drill("-e", LOCAL_APP)
    assert rc == 0, out[-4000:]
    report = json.loads(host.file(REPORT).content_string)
    assert report["result"] == "ok"
    assert report["uploads_source_objects"] == len(FOLDER_FILES)
    assert report["uploads_sample"] in FOLDER_FILES


def test_restore_drill_fails_when_the_folder_copy_differs(host):
    """A sampled file whose backup differs from the folder fails the drill at the hash step."""
    for name in FOLDER_FILES:
        s3(host, "s3.put_object(Bucket=%r, Key=%r, Body=b'tampered')\nprint('{}')" % (BUCKET, "%s/uploads/%s" % (PREFIX, name)))
    rc, out = drill("-e", LOCAL_APP)
    assert rc != 0
    assert 'Restore drill FAILED at step "Check that the sampled object' in flat(out)
    assert json.loads(host.file(REPORT).content_string)["result"] == "failed"
