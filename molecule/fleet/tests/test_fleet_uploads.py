"""The fleet's uploads (app_uploads_storage s3): the test S3 server's bucket on
the data host, mounted with rclone (divan-uploads.service) on both app hosts
below the folder the backends bind-mount. A file PUT through Caddy is read
back from both backends directly, lands in the bucket, and is still served
after the backend container is recreated and after the mount is restarted
under a running backend."""

import json
import os
import subprocess
import time
import uuid

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("divan_proxy")

PROXY = "divan-fleet-proxy"
APPS = ["divan-fleet-app1", "divan-fleet-app2"]
DATA = "divan-fleet-data"
ADDRESS = {APPS[0]: "10.213.7.11", APPS[1]: "10.213.7.12"}
BACKEND = "divan-backend-1"
DOMAIN = "divan.test"
BUCKET = "divan-uploads"
PREFIX = "uploads"
MOUNT = "/srv/divan/uploads/bucket"
# Long enough for rclone's write-back (1 s) and directory cache (2 s) many
# times over; the checks poll and stop at the first success.
PATIENCE = 60


def _exec(container, *cmd, check=True, stdin=None, timeout=300):
    proc = subprocess.run(["docker", "exec", "-i", container, *cmd], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s: %s failed (%d):\n%s%s" % (
            container, cmd, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")))
    return proc.stdout


def _put_through_proxy(name, body):
    out = _exec(PROXY, "curl", "-sk", "--resolve", "%s:443:127.0.0.1" % DOMAIN, "-o", "/dev/null",
                "-w", "%{http_code}", "-X", "PUT", "--data-binary", "@-", "https://%s/uploads/%s" % (DOMAIN, name),
                stdin=body)
    return int(out.decode())


def _put_direct(app, name, body):
    out = _exec(app, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "@-",
                "http://%s:8000/uploads/%s" % (ADDRESS[app], name), stdin=body)
    return int(out.decode())


def _get_direct(app, name):
    """(status, body) of GET /uploads/<name> from this app host's own backend (its published port)."""
    proc = subprocess.run(["docker", "exec", app, "curl", "-s", "-w", "\n%{http_code}",
                           "http://%s:8000/uploads/%s" % (ADDRESS[app], name)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
    body, _sep, code = proc.stdout.rpartition(b"\n")
    return int(code or b"0"), body


def _read_back(app, name):
    """The backend's answer once it is 200, or the last one after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    code, body = _get_direct(app, name)
    while code != 200 and time.monotonic() < deadline:
        time.sleep(1)
        code, body = _get_direct(app, name)
    return code, body


BUCKET_GET = r"""
import boto3, sys, time
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:9000', region_name='us-east-1',
                  aws_access_key_id='DIVANTESTACCESSKEY01',
                  aws_secret_access_key='7b1d9e4c2a6f08e35d1c7a9b4e2f60d8a5c3e1f7')
deadline = time.monotonic() + float(sys.argv[3])
while True:
    try:
        sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read())
        break
    except s3.exceptions.NoSuchKey:
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(1)
"""


def _bucket_object(key):
    """The object's content in the test S3 server (on the data host), None when it never appears."""
    proc = subprocess.run(["docker", "exec", DATA, "python3", "-c", BUCKET_GET, BUCKET, key, str(PATIENCE)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=PATIENCE + 60, check=False)
    if proc.returncode == 3:
        return None
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def _wait_healthy(app, container, timeout=180):
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = _exec(app, "docker", "inspect", "-f", "{{.State.Health.Status}}", container, check=False).decode().strip()
        if state == "healthy":
            return
        time.sleep(2)
    raise AssertionError("%s on %s not healthy after %ds (%s)" % (container, app, timeout, state))


def _body():
    return ("divan fleet upload %s\n" % uuid.uuid4().hex).encode() * 50


def test_bucket_mounted_below_the_bound_folder_on_both_app_hosts():
    for app in APPS:
        assert _exec(app, "systemctl", "is-active", "divan-uploads.service").decode().strip() == "active"
        assert _exec(app, "systemctl", "is-enabled", "divan-uploads.service").decode().strip() == "enabled"
        fstype = _exec(app, "findmnt", "-n", "-o", "FSTYPE", "--mountpoint", MOUNT).decode().strip()
        assert fstype == "fuse.rclone", (app, fstype)
        assert "shared" in _exec(app, "findmnt", "-n", "-o", "PROPAGATION", "--mountpoint", "/srv/divan/uploads").decode()
        conf = _exec(app, "stat", "-c", "%a %U", "/etc/divan-uploads/rclone.conf").decode().split()
        assert conf == ["600", "root"], (app, conf)
        mounts = json.loads(_exec(app, "docker", "inspect", "-f", "{{json .Mounts}}", BACKEND))
        upload = [m for m in mounts if m["Destination"] == "/app/app/uploads"]
        assert upload and upload[0]["Source"] == "/srv/divan/uploads" and upload[0]["Propagation"] == "rslave", mounts
        # The container sees the FUSE mount inside its bind mount.
        inside = _exec(app, "docker", "exec", BACKEND, "cat", "/proc/self/mountinfo").decode()
        assert any(" /app/app/uploads/bucket " in line and "fuse.rclone" in line for line in inside.splitlines()), inside


def test_put_through_the_proxy_is_read_back_from_both_backends_and_lands_in_the_bucket():
    name = "fleet/%s.txt" % uuid.uuid4().hex
    body = _body()
    assert _put_through_proxy(name, body) == 201
    for app in APPS:
        code, got = _read_back(app, name)
        assert code == 200, (app, code, got[:200])
        assert got == body, app
    assert _bucket_object("%s/%s" % (PREFIX, name)) == body


def test_upload_survives_a_recreated_backend_container():
    name = "fleet/recreate-%s.txt" % uuid.uuid4().hex
    body = _body()
    assert _put_through_proxy(name, body) == 201
    assert _read_back(APPS[0], name) == (200, body)
    before = _exec(APPS[0], "docker", "inspect", "-f", "{{.Id}}", BACKEND).decode().strip()
    _exec(APPS[0], "sh", "-c", "cd /opt/divan && docker compose up -d --force-recreate backend")
    after = _exec(APPS[0], "docker", "inspect", "-f", "{{.Id}}", BACKEND).decode().strip()
    assert after != before
    _wait_healthy(APPS[0], BACKEND)
    assert _read_back(APPS[0], name) == (200, body)


def test_restarted_mount_reaches_the_running_backend():
    """divan-uploads.service restarted (and killed) under a running backend: the
    container sees the new mount (no "Transport endpoint is not connected"),
    old files are served and new ones reach the other host."""
    name = "fleet/remount-%s.txt" % uuid.uuid4().hex
    body = _body()
    assert _put_direct(APPS[1], name, body) == 201
    assert _read_back(APPS[0], name) == (200, body)
    started = _exec(APPS[1], "docker", "inspect", "-f", "{{.State.StartedAt}}", BACKEND).decode().strip()
    _exec(APPS[1], "systemctl", "restart", "divan-uploads.service")
    assert _read_back(APPS[1], name) == (200, body)
    _exec(APPS[1], "systemctl", "kill", "--signal=KILL", "divan-uploads.service")
    # Restart=on-failure brings it back; the read waits for it.
    assert _read_back(APPS[1], name) == (200, body)
    assert _exec(APPS[1], "docker", "inspect", "-f", "{{.State.StartedAt}}", BACKEND).decode().strip() == started
    second = "fleet/remount-second-%s.txt" % uuid.uuid4().hex
    assert _put_direct(APPS[1], second, body) == 201
    assert _read_back(APPS[0], second) == (200, body)
    assert _bucket_object("%s/%s" % (PREFIX, second)) == body
