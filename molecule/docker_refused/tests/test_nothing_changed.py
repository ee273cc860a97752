"""Nothing of Docker reached the host that refused every case."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")


def test_host_is_debian_12(host):
    assert host.system_info.release.startswith("12")


def test_no_docker_package_installed(host):
    for name in ("docker.io", "docker-ce", "docker-compose", "python3-docker"):
        assert not host.package(name).is_installed, name


def test_no_daemon_config_written(host):
    assert not host.file("/etc/docker").exists


def test_no_docker_source_added(host):
    assert not host.file("/etc/apt/sources.list.d/docker.sources").exists
