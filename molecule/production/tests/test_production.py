"""inventories/production's settings converged (site.yml), lab endpoints only replaced.

Certificates: Caddy (caddy_tls_mode acme, caddy_acme_directory at pebble,
caddy_acme_ca_root the CA of pebble's HTTPS listener) orders the certificates
of divan.test and www.divan.test; pebble validates each name by a challenge
against Caddy on ports 80/443. The chain Caddy serves must verify against
pebble's root (read from pebble's management API: pebble makes a new one at
each start), not against Caddy's local CA.

Renewal is not checked: Caddy 2.11 takes the renewal time from the CA's ACME
Renewal Information (ARI), which it cannot be told to ignore, and pebble 2.6
answers with a window from a day before to a day after issuance whatever the
certificate's validity, so the moment Caddy picks is random.

Networks: the inventory's fixed bridge (172.17.0.1/24) and address pool
(172.17.128.0/17), from which pg_hba and the Redis bind follow; the backend's
readiness (Redis PING, SELECT 1, the last migration) through Caddy proves the
containers reach both.
"""

import ipaddress
import json
import os
import re
import time

import testinfra.utils.ansible_runner
from divan_scenario import PROJECT, ansible_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

# Saved by ../../_shared/pebble.yml (divan_test_acme_root), verify_ca_path in host_vars.
PEBBLE_ROOT = "/etc/pebble/root.pem"
NAMES = ["divan.test", "www.divan.test"]
VENDOR_REPOS = "https://apt.divan.test:8443"
POOL = ipaddress.ip_network("172.17.128.0/17")
TOKEN = "8f92489d44b527a6c400a4472038e38df897b6cd4ab68e6e415774039f8e547c"
SMTP_PASSWORD = "2cb5b9ea689b68f6e3336e12486471a97922cab550fd62d2dd58c66f4d58b2ad"


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def pebble_root(host):
    """The root saved at prepare time (the verification trusts it), which must be the running pebble's."""
    live = host.run("curl -fsS --cacert /etc/pebble/ca.crt https://acme.divan.test:15000/roots/0")
    assert live.rc == 0, live.stderr
    saved = host.file(PEBBLE_ROOT).content_string
    assert saved.strip() == live.stdout.strip()
    return saved


def served(host, name):
    """(verify rc, s_client output, issuer) of the chain served for name, verified against pebble's root."""
    verify = host.run("openssl s_client -connect 127.0.0.1:443 -servername %s -CAfile %s -verify_return_error "
                      "</dev/null 2>&1" % (name, PEBBLE_ROOT))
    leaf = host.run("printf '%%s' %s | openssl x509 -noout -issuer" % shell_quote(verify.stdout))
    issuer = re.search(r"^issuer=(.*)$", leaf.stdout, re.M)
    return verify.rc, verify.stdout, issuer.group(1) if issuer else ""


def test_every_name_serves_a_chain_that_verifies_against_pebbles_root(host):
    assert "BEGIN CERTIFICATE" in pebble_root(host)
    for name in NAMES:
        deadline = time.time() + 120
        while True:
            rc, out, issuer = served(host, name)
            if rc == 0 and "Pebble Intermediate CA" in issuer:
                break
            assert time.time() < deadline, "no pebble certificate for %s: %s\n%s" % (name, issuer, out[-2000:])
            time.sleep(3)
    # A client that trusts pebble's root only reaches the backend's readiness.
    resp = host.run("curl -sS -w '\\n%%{http_code}' --cacert %s https://divan.test/health/ready" % PEBBLE_ROOT)
    assert resp.rc == 0 and resp.stdout.endswith("\n200"), resp.stdout + resp.stderr
    assert '"status":"ok"' in resp.stdout.replace(" ", ""), resp.stdout
    # Caddy was never in internal mode: it has no local CA.
    assert not host.file("/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt").exists


def test_the_names_were_proved_by_a_challenge(host):
    env = host.run("systemctl show pebble -p Environment").stdout
    assert "PEBBLE_VA_ALWAYS_VALID" not in env, env
    caddy = host.run("journalctl -u caddy --no-pager -o cat").stdout
    for name in NAMES:
        # Caddy answered pebble's validation request for the name (http-01 on port 80 or tls-alpn-01 on 443).
        answered = [line for line in caddy.splitlines()
                    if re.search(r'"challenge":"(http-01|tls-alpn-01)"', line) and '"%s"' % name in line]
        assert answered, caddy[-3000:]
    assert "certificate obtained successfully" in caddy, caddy[-3000:]
    pebble = host.run("journalctl -u pebble --no-pager -o cat").stdout
    assert pebble.count("set VALID by completed challenge") >= len(NAMES), pebble[-3000:]


def installed_from(host, package):
    """The sources (apt-cache policy) of the installed version of package."""
    lines = host.check_output("apt-cache policy %s" % package).splitlines()
    start = [k for k, line in enumerate(lines) if line.startswith(" *** ")]
    assert start, "%s is not installed:\n%s" % (package, "\n".join(lines))
    sources = []
    for line in lines[start[0] + 1:]:
        if not re.match(r"^ {8}\d+ ", line):
            break
        sources.append(line.strip())
    return sources


def test_docker_and_caddy_come_from_the_vendors_repositories(host):
    for package in ("docker-ce", "docker-compose-plugin", "caddy"):
        sources = installed_from(host, package)
        assert any(VENDOR_REPOS in source for source in sources), (package, sources)
    assert host.check_output("caddy version").startswith("v2.11.")
    assert not host.package("docker.io").is_installed


def test_the_containers_use_the_inventorys_networks(host):
    bridge = host.check_output("ip -4 -o addr show docker0")
    assert "inet 172.17.0.1/24" in bridge, bridge
    networks = host.check_output("docker network ls --filter label=com.docker.compose.project -q").split()
    assert networks, "no compose network"
    for network in networks:
        subnets = host.check_output("docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' %s" % network)
        for subnet in subnets.split():
            assert ipaddress.ip_network(subnet).subnet_of(POOL), (network, subnet)
    hba = host.check_output("sudo -u postgres psql -tAc \"SELECT address || '/' || netmask FROM pg_hba_file_rules "
                            "WHERE database = '{divan}' AND address IS NOT NULL\"")
    assert "172.17.0.0/255.255.0.0" in hba.split(), hba
    assert host.socket("tcp://172.17.0.1:6379").is_listening
    assert host.socket("tcp://172.17.0.1:5432").is_listening


def test_verify_playbook_passes_with_the_production_settings(host, tmp_path):
    rc, out = ansible_playbook(PROJECT / "playbooks/verify.yml", {"verify_report_dir": str(tmp_path)})
    assert rc == 0, out[-6000:]
    checks = {check["id"]: check for check in json.loads((tmp_path / "report.json").read_text())["checks"]}
    failed = [check for check in checks.values() if check["result"] == "fail"]
    assert not failed, failed
    # The sign-up mail went through the SMTP server; Prometheus on the host scrapes its targets.
    for check in ("proxy.auth_flow", "monitoring.scrape", "proxy.tls_headers", "browser.frontend", "app.env"):
        assert checks[check]["result"] == "pass", checks[check]
    assert TOKEN not in out and SMTP_PASSWORD not in out
