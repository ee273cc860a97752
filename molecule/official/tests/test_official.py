"""The vendors' install paths of docker, caddy and postgresql, converged
against the local stand-in repositories (tests/harness/build-vendor-repos.sh)."""

import os
import re

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

BASE = "https://apt.divan.test:8443"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FINGERPRINT_FILE = os.path.join(
    os.environ.get("DIVAN_VENDOR_REPOS_DIR") or os.path.join(ROOT, ".cache", "vendor-repos"), "fingerprint.txt")

# name of the deb822 file, its key, URI, suite, component, and packages from it
SOURCES = {
    "docker": ("/etc/apt/keyrings/docker.asc", BASE + "/docker", "trixie", "stable",
               ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin", "docker-compose-plugin"]),
    "caddy-stable": ("/etc/apt/keyrings/caddy-stable.asc", BASE + "/caddy", "any-version", "main", ["caddy"]),
    "pgdg": ("/etc/apt/keyrings/pgdg.asc", BASE + "/pgdg", "trixie-pgdg", "main",
             ["postgresql-17", "postgresql-client-17"]),
}


def _deb822(text):
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith((" ", "#")):
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_source_is_deb822_signed_by_a_keyring_file(host, name):
    key, uri, suite, component, _pkgs = SOURCES[name]
    f = host.file("/etc/apt/sources.list.d/%s.sources" % name)
    assert f.exists, name
    fields = _deb822(f.content_string)
    assert fields["Types"] == "deb"
    assert fields["URIs"] == uri
    assert fields["Suites"] == suite
    assert fields["Components"] == component
    assert fields["Signed-By"] == key
    k = host.file(key)
    assert k.exists and k.user == "root" and k.mode == 0o644
    assert "BEGIN PGP PUBLIC KEY BLOCK" in k.content_string
    # no one-line .list duplicate of the source
    assert not host.file("/etc/apt/sources.list.d/%s.list" % name).exists


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_key_file_holds_the_pinned_fingerprint(host, name):
    with open(FINGERPRINT_FILE) as fh:
        expected = fh.read().strip()
    out = host.check_output("gpg --batch --with-colons --show-keys %s" % SOURCES[name][0])
    fprs = re.findall(r"^fpr:+([0-9A-F]{40}):", out, re.M)
    assert fprs[0] == expected, out


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_packages_installed_from_the_local_repository(host, name):
    _key, uri, suite, component, pkgs = SOURCES[name]
    for pkg in pkgs:
        assert host.package(pkg).is_installed, pkg
        policy = host.check_output("apt-cache policy %s" % pkg)
        installed = re.search(r"^\s+Installed: (\S+)", policy, re.M).group(1)
        # the installed version's block of the version table lists the local source
        block = policy.split("*** %s " % installed, 1)[1]
        block = re.split(r"\n {5}\S", block, maxsplit=1)[0]
        assert "%s %s/%s amd64 Packages" % (uri, suite, component) in block, policy


def test_pgdg_release_has_the_origin_the_pin_names(host):
    out = host.check_output("apt-cache policy")
    releases = [set(line.strip()[len("release "):].split(",")) for line in out.splitlines()
                if line.strip().startswith("release ")]
    assert any({"o=apt.postgresql.org", "a=trixie-pgdg", "n=trixie-pgdg", "c=main"} <= r for r in releases), out
    assert "Pin: release o=apt.postgresql.org" in host.file("/etc/apt/preferences.d/pgdg.pref").content_string


def test_caddy_is_the_official_build(host):
    out = host.check_output("caddy version")
    assert re.match(r"v2\.11\.\d+", out), out
    unit = host.file("/lib/systemd/system/caddy.service").content_string
    assert "User=caddy" in unit
    assert "ExecStart=/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile" in unit
    user = host.user("caddy")
    assert user.exists and user.home == "/var/lib/caddy"
    svc = host.service("caddy")
    assert svc.is_running and svc.is_enabled


def test_docker_engine_and_compose_v2(host):
    svc = host.service("docker")
    assert svc.is_running and svc.is_enabled
    out = host.check_output("docker compose version --short")
    assert out.lstrip("v").split(".")[0] == "2", out
    assert host.check_output("docker info --format '{{.ServerVersion}}'")


def test_postgresql_17_answers(host):
    out = host.check_output("runuser -u postgres -- psql -XtAc 'SHOW server_version_num' divan")
    assert out.startswith("17"), out
    svc = host.service("postgresql@17-main")
    assert svc.is_running and svc.is_enabled
