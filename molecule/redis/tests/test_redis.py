"""What divan.platform.redis promises, checked on the converged host."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

PASSWORD = "0123456789abcdef0123456789abcdef-test-only"


def cli(host, args, password=None):
    auth = "--no-auth-warning -a '%s' " % password if password else ""
    return host.run("redis-cli -h 127.0.0.1 %s%s" % (auth, args))


def test_service_running_and_enabled(host):
    svc = host.service("redis-server")
    assert svc.is_running and svc.is_enabled


def test_unauthenticated_command_refused(host):
    out = cli(host, "SET divan:probe 1")
    assert "NOAUTH" in out.stdout + out.stderr


def test_wrong_password_refused(host):
    out = cli(host, "PING", password="not-the-password-not-the-password!")
    assert "PONG" not in out.stdout
    assert "WRONGPASS" in out.stdout + out.stderr or "invalid" in (out.stdout + out.stderr).lower()


def test_authenticated_commands_work(host):
    assert cli(host, "SET divan:probe 42", PASSWORD).stdout.strip() == "OK"
    assert cli(host, "GET divan:probe", PASSWORD).stdout.strip() == "42"


def test_dangerous_commands_refused(host):
    out = cli(host, "FLUSHALL", PASSWORD)
    assert "NOPERM" in out.stdout + out.stderr


def test_memory_cap_and_policy(host):
    assert cli(host, "CONFIG GET maxmemory", PASSWORD).stdout.split() == ["maxmemory", str(64 * 1024 * 1024)]
    assert cli(host, "CONFIG GET maxmemory-policy", PASSWORD).stdout.split() == ["maxmemory-policy", "allkeys-lru"]


def test_aof_persistence_on(host):
    assert cli(host, "CONFIG GET appendonly", PASSWORD).stdout.split() == ["appendonly", "yes"]


def test_password_not_stored_in_clear(host):
    conf = host.file("/etc/redis/redis.conf")
    assert PASSWORD not in conf.content_string
    assert conf.mode == 0o640


def test_listens_on_loopback_only(host):
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":6379")]
    assert listening
    for sock in listening:
        assert sock in ("tcp://127.0.0.1:6379", "tcp://::1:6379"), sock


def test_not_reachable_on_other_addresses(host):
    addrs = host.check_output(
        "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1"
    ).split()
    assert addrs
    for addr in addrs:
        out = host.run("redis-cli -h %s --no-auth-warning -a '%s' PING" % (addr, PASSWORD))
        assert "PONG" not in out.stdout, addr
