"""Nothing of Caddy reached the host that refused every case."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")


def test_caddy_not_installed(host):
    assert not host.package("caddy").is_installed
    assert not host.exists("caddy")


def test_no_caddy_config_written(host):
    assert not host.file("/etc/caddy").exists


def test_no_caddy_source_added(host):
    assert not host.file("/etc/apt/sources.list.d/caddy-stable.sources").exists


def test_nothing_listens_on_web_ports(host):
    assert host.run("ss -Htln '( sport = :80 or sport = :443 )'").stdout.strip() == ""
