"""What playbooks/bootstrap.yml promises, checked on the bootstrapped host."""

import json
import os
import socket
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

ADMIN = "divan"


def _sshd_effective(host):
    out = host.check_output("sshd -T")
    conf = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        conf[key] = value
    return conf


def test_admin_user_has_key_and_sudo(host):
    user = host.user(ADMIN)
    assert user.exists and "sudo" in user.groups
    keys = host.file("/home/%s/.ssh/authorized_keys" % ADMIN)
    assert "divan-test-key" in keys.content_string
    assert keys.mode == 0o600 and keys.user == ADMIN
    assert host.run("sudo -l -U %s" % ADMIN).stdout.count("NOPASSWD: ALL") == 1


def test_admin_has_no_password(host):
    shadow = host.check_output("getent shadow %s" % ADMIN).split(":")
    assert shadow[1] in ("!", "*", "!*")


def test_sshd_effective_config_is_hardened(host):
    conf = _sshd_effective(host)
    assert conf["permitrootlogin"] == "no"
    assert conf["passwordauthentication"] == "no"
    assert conf["kbdinteractiveauthentication"] == "no"
    assert conf["pubkeyauthentication"] == "yes"
    assert conf["authenticationmethods"] == "publickey"
    assert "diffie-hellman-group14-sha1" not in conf["kexalgorithms"]
    assert set(conf["ciphers"].split(",")) <= {
        "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"}
    assert all(m.endswith("-etm@openssh.com") for m in conf["macs"].split(","))


def test_sshd_running(host):
    assert host.service("ssh").is_running
    assert host.socket("tcp://0.0.0.0:22").is_listening or host.socket("tcp://:::22").is_listening


def test_firewall_table_loaded_with_drop_policy(host):
    rules = host.check_output("nft list table inet divan_filter")
    assert "policy drop" in rules
    assert "tcp dport { 22, 80, 443 } accept" in rules
    assert "ip saddr 10.99.0.0/16 tcp dport { 5432, 6379 } accept" in rules


@pytest.mark.parametrize("action", ["reload", "restart"])
def test_firewall_leaves_other_tables_alone(host, action):
    """Docker's tables (stood in for by a probe table) survive our reloads and restarts."""
    host.run_test("nft add table ip divan_probe_table")
    try:
        host.run_test("systemctl %s nftables" % action)
        tables = host.check_output("nft list tables")
        assert "divan_probe_table" in tables
        assert "inet divan_filter" in tables
    finally:
        host.run("nft delete table ip divan_probe_table")


def _address(host):
    return host.check_output("ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1").strip()


def _reachable(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def listeners(host):
    """Listeners on an allowed and on closed ports, probed from outside the host."""
    host.run("systemctl stop divan-probe-5432 divan-probe-8081 2>/dev/null")
    for port in (5432, 8081):
        host.run_test(
            "systemd-run --unit divan-probe-%d python3 -m http.server --bind 0.0.0.0 %d" % (port, port))
    for _ in range(50):
        if host.run("curl -fsS -o /dev/null http://127.0.0.1:8081/").rc == 0:
            break
        time.sleep(0.2)
    yield _address(host)
    host.run("systemctl stop divan-probe-5432 divan-probe-8081")


def test_listening_ports_reachable_from_outside(host, listeners):
    """What another machine reaches: SSH, nothing else that listens here."""
    open_ports = {port: _reachable(listeners, port) for port in (22, 5432, 8081)}
    report = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".cache" / "logs" / "bootstrap-ports.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"address": "test-container", "reachable": open_ports}, indent=2))
    assert open_ports == {22: True, 5432: False, 8081: False}
    # The same listeners do answer on the host itself: the firewall, not the
    # listener, decides.
    assert host.run("curl -fsS -o /dev/null http://127.0.0.1:8081/").rc == 0


def test_unattended_upgrades_on(host):
    assert host.package("unattended-upgrades").is_installed
    assert 'Unattended-Upgrade "1"' in host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string


def test_time_sync_and_zone(host):
    assert host.service("systemd-timesyncd").is_enabled
    assert host.file("/etc/localtime").linked_to.endswith("Etc/UTC")


def test_hostname_and_locale(host):
    assert host.check_output("hostnamectl hostname") == "divan-bootstrap"
    assert "en_US.utf8" in host.check_output("locale -a")


def test_sysctl_applied(host):
    assert host.check_output("sysctl -n net.ipv4.conf.all.accept_redirects") == "0"
    assert host.check_output("sysctl -n net.ipv4.tcp_syncookies") == "1"
    # Docker needs forwarding.
    assert host.check_output("sysctl -n net.ipv4.ip_forward") == "1"
