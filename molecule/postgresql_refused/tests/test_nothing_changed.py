"""Nothing of PostgreSQL reached the host that refused every case."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")


def test_no_postgresql_package_installed(host):
    for name in ("postgresql", "postgresql-17", "postgresql-common", "python3-psycopg2"):
        assert not host.package(name).is_installed, name


def test_no_configuration_written(host):
    assert not host.file("/etc/postgresql").exists
    assert not host.file("/etc/postgresql-common").exists
    assert not host.file("/etc/systemd/system/postgresql@.service.d").exists
    assert not host.file("/var/backups/postgresql").exists


def test_locale_not_generated(host):
    assert "en_US.utf8" not in host.check_output("locale -a")
