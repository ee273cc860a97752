"""What playbooks/bootstrap.yml promises, checked on the bootstrapped host."""

import json
import os
import subprocess
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
        key, _unused, value = line.partition(" ")
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
    assert "ip saddr { 10.98.0.5, 10.98.0.9 } tcp dport { 3000, 8000 } accept" in rules
    # Docker-published (DNATed) ports get the same allow-lists in a forward chain.
    forward = rules[rules.index("chain forward"):]
    assert "hook forward priority filter - 10; policy accept;" in forward
    assert "ct original proto-dst { 22, 80, 443 } accept" in forward
    assert "ip saddr { 10.98.0.5, 10.98.0.9 } ct status dnat meta l4proto tcp ct original proto-dst { 3000, 8000 } accept" in forward
    assert forward.rstrip().splitlines()[-3].strip().startswith("ct status dnat counter")
    assert forward.rstrip().splitlines()[-3].strip().endswith('drop comment "published port not allowed for this source"')


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


# Probe listeners: on the public ports the firewall opens (80 and 443, where
# nothing listens after the bootstrap alone), on a private port (5432: open
# to bootstrap_firewall_private_networks only, which the scanner is not in)
# and on a port the firewall does not open at all.
PROBE_PORTS = (80, 443, 5432, 8081)
ALLOWED_FROM_OUTSIDE = {22, 80, 443}
# Ports the platform's services use, scanned besides 1-1024.
SERVICE_PORTS = (2019, 2020, 3000, 3001, 5432, 6379, 8000, 8080, 8081, 8443, 9000, 9090, 9100)
LOG_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".cache" / "logs"

# A TCP connect scan, run with python3 inside a throwaway container:
# prints {"open": [...], "refused": [...], "filtered": [...]}.
SCAN = r"""
import asyncio, json, sys
target, ports = sys.argv[1], sorted({int(p) for p in sys.argv[2].split(",")})
async def probe(port, sem):
    async with sem:
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection(target, port), 2)
            w.close()
            return port, "open"
        except ConnectionRefusedError:
            return port, "refused"
        except (asyncio.TimeoutError, OSError):
            return port, "filtered"
async def main():
    sem = asyncio.Semaphore(256)
    res = await asyncio.gather(*(probe(p, sem) for p in ports))
    out = {"open": [], "refused": [], "filtered": []}
    for port, state in res:
        out[state].append(port)
    print(json.dumps(out))
asyncio.run(main())
"""


def _docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout


@pytest.fixture(scope="module")
def listeners(host):
    """Probe listeners on allowed, private and closed ports; yields the host's address."""
    units = " ".join("divan-probe-%d" % port for port in PROBE_PORTS)
    host.run("systemctl stop %s 2>/dev/null" % units)
    for port in PROBE_PORTS:
        host.run_test(
            "systemd-run --unit divan-probe-%d python3 -m http.server --bind 0.0.0.0 %d" % (port, port))
    for port in PROBE_PORTS:
        for _unused in range(50):
            if host.run("curl -fsS -o /dev/null http://127.0.0.1:%d/" % port).rc == 0:
                break
            time.sleep(0.2)
    yield _address(host)
    host.run("systemctl stop %s" % units)


def test_listening_ports_reachable_from_another_container(host, listeners):
    """A connect scan (1-1024 and the service ports) from another container on
    the same Docker network reaches exactly the public ports: SSH, 80, 443."""
    name = host.backend.get_hostname()
    networks = json.loads(_docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name))
    network = sorted(networks)[0]
    image = _docker("inspect", "-f", "{{.Config.Image}}", name).strip()
    ports = ",".join(str(p) for p in list(range(1, 1025)) + list(SERVICE_PORTS))
    started = time.monotonic()
    out = _docker("run", "--rm", "--network", network, "--entrypoint", "python3", image,
                  "-c", SCAN, listeners, ports)
    scan = json.loads(out.strip().splitlines()[-1])
    listening = sorted({int(line.split()[3].rsplit(":", 1)[1])
                        for line in host.check_output("ss -Hltn").splitlines()})
    report = {
        "target": name,
        "network": network,
        "scanned_ports": "1-1024," + ",".join(str(p) for p in SERVICE_PORTS),
        "listening_on_host": listening,
        "reachable_from_another_container": scan["open"],
        "refused": scan["refused"],
        "filtered_count": len(scan["filtered"]),
        "scan_seconds": round(time.monotonic() - started, 1),
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / "bootstrap-ports.json").write_text(json.dumps(report, indent=2) + "\n")
    print("reachable TCP ports from another container: %s" % scan["open"])
    # The probes really listen on every scanned probe port...
    assert set(PROBE_PORTS) | {22} <= set(listening)
    # ...but only the public ones are reachable from another machine, and the
    # rest is dropped (no RST gives the scanner a hint).
    assert set(scan["open"]) == ALLOWED_FROM_OUTSIDE
    assert scan["refused"] == []
    # The same listeners do answer on the host itself: the firewall, not the
    # listener, decides.
    assert host.run("curl -fsS -o /dev/null http://127.0.0.1:8081/").rc == 0


# Lynis (Debian's package, `lynis audit system --quick`) on the bootstrapped
# host. Measured with lynis 3.1.4 on divan-test/debian:trixie, in a container
# started the way molecule starts its platform (systemd as PID 1): 62 without
# the bootstrap, 71 with the bootstrap before its Lynis hardening (38
# suggestions), 82 with it (19 suggestions, each explained in
# docs/roles/_intro/bootstrap.md). The floor sits well above the
# un-bootstrapped index, so a bootstrap that stops hardening fails here.
# DIVAN_LYNIS_BASELINE=1 also measures an un-bootstrapped container of the
# same image alongside (about a minute more of CPU) and requires a gain of
# LYNIS_MIN_GAIN over it: use it when the base image or lynis changes.
LYNIS_FLOOR = 80
LYNIS_MIN_GAIN = 5
LYNIS_BASELINE = os.environ.get("DIVAN_LYNIS_BASELINE", "0") == "1"
LYNIS = ("(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
         "--no-install-recommends lynis) >/dev/null 2>&1; "
         "lynis audit system --quick --no-colors --report-file /tmp/divan-lynis.dat "
         "--logfile /tmp/divan-lynis.log >/dev/null 2>&1; cat /tmp/divan-lynis.dat")


def _lynis_summary(report):
    values = {}
    warnings, suggestions = [], []
    for line in report.splitlines():
        key, _unused, value = line.partition("=")
        if key == "warning[]":
            warnings.append(value.split("|")[0])
        elif key == "suggestion[]":
            suggestions.append(value.split("|")[0])
        else:
            values[key] = value
    assert "hardening_index" in values, "lynis wrote no hardening index:\n" + report[-2000:]
    return {
        "hardening_index": int(values["hardening_index"]),
        "lynis_version": values.get("lynis_version"),
        "tests_performed": int(values.get("lynis_tests_done", 0) or 0),
        "warnings": warnings,
        "suggestions": len(suggestions),
    }


def _platform_run_args():
    """docker run options of the shared molecule platform (systemd container)."""
    import yaml

    root = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."))
    platform = yaml.safe_load((root / ".config/molecule/config.yml").read_text())["platforms"][0]
    args = ["--cgroupns", "host", "--stop-signal", "SIGRTMIN+3",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]
    for cap in platform["capabilities"]:
        args += ["--cap-add", cap]
    for opt in platform["security_opts"]:
        args += ["--security-opt", opt]
    for path in platform["tmpfs"]:
        args += ["--tmpfs", path]
    return args


@pytest.fixture(scope="module")
def lynis(host):
    """Lynis on the bootstrapped host (and on an un-bootstrapped one alongside, if asked)."""
    name = host.backend.get_hostname()
    image = _docker("inspect", "-f", "{{.Config.Image}}", name).strip()
    baseline = name + "-lynis-baseline"
    base_proc = None
    started = time.monotonic()
    try:
        if LYNIS_BASELINE:
            _docker("rm", "-f", baseline, check=False)
            _docker("run", "-d", "--name", baseline, *_platform_run_args(), image,
                    "/lib/systemd/systemd")
            for _unused in range(60):
                state = _docker("exec", baseline, "systemctl", "is-system-running",
                                check=False).strip()
                if state in ("running", "degraded"):
                    break
                time.sleep(1)
            base_proc = subprocess.Popen(["docker", "exec", baseline, "sh", "-c", LYNIS],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True)
        boot = _lynis_summary(host.check_output(LYNIS))
        base = _lynis_summary(base_proc.communicate()[0]) if base_proc else None
    finally:
        if LYNIS_BASELINE:
            _docker("rm", "-f", baseline, check=False)
    result = {
        "bootstrapped": boot,
        "not_bootstrapped_baseline": base or {
            "hardening_index": 62, "lynis_version": "3.1.4",
            "note": "recorded, not measured in this run (DIVAN_LYNIS_BASELINE=1 measures it)"},
        "floor": LYNIS_FLOOR,
        "seconds": round(time.monotonic() - started, 1),
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / "lynis-bootstrap.json").write_text(json.dumps(result, indent=2) + "\n")
    print("lynis hardening index: bootstrapped %d, not bootstrapped %d"
          % (boot["hardening_index"], result["not_bootstrapped_baseline"]["hardening_index"]))
    return result


def test_lynis_hardening_index_above_floor(lynis):
    index = lynis["bootstrapped"]["hardening_index"]
    assert index >= LYNIS_FLOOR, "hardening index %d < floor %d" % (index, LYNIS_FLOOR)
    if LYNIS_BASELINE:
        baseline = lynis["not_bootstrapped_baseline"]["hardening_index"]
        assert index >= baseline + LYNIS_MIN_GAIN, (
            "bootstrap raises the hardening index only from %d to %d" % (baseline, index))
    # Lynis warnings are the findings it considers urgent: none on a bootstrapped host.
    assert lynis["bootstrapped"]["warnings"] == []


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
