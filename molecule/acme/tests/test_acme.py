"""Caddy's certificates from a real ACME server: pebble on the target.

Caddy (caddy_tls_mode acme, caddy_acme_directory at pebble, caddy_acme_ca_root
the CA of pebble's HTTPS listener) orders the certificates of divan.test and
www.divan.test; pebble validates each name by a challenge against Caddy on
ports 80/443. The chain Caddy serves must verify against pebble's root (read
from pebble's management API, it is made anew at each start of pebble), not
against Caddy's local CA.

Renewal is not checked here: Caddy 2.11 takes the renewal time from the CA's
ACME Renewal Information (ARI), which it cannot be told to ignore, and
pebble 2.6 answers with a window from a day before to a day after issuance
whatever the certificate's validity, so Caddy's choice is random.
"""

import os
import re
import time

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")

ROOT = "/tmp/pebble-root.pem"
NAMES = ["divan.test", "www.divan.test"]


def pebble_root(host):
    cmd = host.run("curl -fsS --cacert /etc/pebble/ca.crt -o %s https://acme.divan.test:15000/roots/0" % ROOT)
    assert cmd.rc == 0, cmd.stderr
    return host.file(ROOT).content_string


def served(host, name):
    """(verify rc, s_client output, issuer, serial) of the chain served for name, verified against pebble's root."""
    verify = host.run("openssl s_client -connect 127.0.0.1:443 -servername %s -CAfile %s -verify_return_error "
                      "</dev/null 2>&1" % (name, ROOT))
    leaf = host.run("printf '%%s' %s | openssl x509 -noout -issuer -serial" % shell_quote(verify.stdout))
    issuer = re.search(r"^issuer=(.*)$", leaf.stdout, re.M)
    serial = re.search(r"^serial=(\w+)$", leaf.stdout, re.M)
    return verify.rc, verify.stdout, issuer.group(1) if issuer else "", serial.group(1) if serial else ""


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def wait_served(host, name, timeout=120, other_than=""):
    deadline = time.time() + timeout
    while True:
        rc, out, issuer, serial = served(host, name)
        if rc == 0 and "Pebble" in issuer and serial and serial != other_than:
            return issuer, serial
        assert time.time() < deadline, "no pebble certificate for %s after %d s: %s %s\n%s" % (
            name, timeout, issuer, serial, out[-2000:])
        time.sleep(3)


def test_every_name_serves_a_chain_that_verifies_against_pebbles_root(host):
    assert "BEGIN CERTIFICATE" in pebble_root(host)
    for name in NAMES:
        issuer, serial = wait_served(host, name)
        assert "Pebble Intermediate CA" in issuer, issuer
    # Through a client that trusts pebble's root only: the site answers.
    resp = host.run("curl -sS -o /dev/null -w '%%{http_code}' --cacert %s https://divan.test/" % ROOT)
    assert resp.rc == 0 and resp.stdout == "200", resp.stderr
    # And not through Caddy's local CA: Caddy was never in internal mode here.
    assert not host.file("/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt").exists


def test_the_names_were_proved_by_a_challenge(host):
    env = host.run("systemctl show pebble -p Environment").stdout
    assert "PEBBLE_VA_ALWAYS_VALID" not in env, env
    caddy = host.run("journalctl -u caddy --no-pager -o cat").stdout
    for name in NAMES:
        # Caddy answered pebble's validation request for the name (http-01 on port 80 or tls-alpn-01 on 443).
        served_challenge = [line for line in caddy.splitlines()
                            if re.search(r'"challenge":"(http-01|tls-alpn-01)"', line) and '"%s"' % name in line]
        assert served_challenge, caddy[-3000:]
    assert "certificate obtained successfully" in caddy, caddy[-3000:]
    pebble = host.run("journalctl -u pebble --no-pager -o cat").stdout
    assert pebble.count("set VALID by completed challenge") >= len(NAMES), pebble[-3000:]
