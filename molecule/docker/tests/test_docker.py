"""What divan.platform.docker promises, checked on the converged host."""

import json
import os
import time

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

PROBE_IMAGE = "divan-test/probe:empty"
PROBE_NAME = "divan-port-probe"


def test_engine_active_and_enabled(host):
    svc = host.service("docker")
    assert svc.is_running
    assert svc.is_enabled


def test_compose_is_v2(host):
    out = host.check_output("docker compose version --short")
    assert out.lstrip("v").split(".")[0] == "2", out


def test_daemon_json_is_what_the_role_wrote(host):
    cfg = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert cfg["log-driver"] == "local"
    assert cfg["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert cfg["live-restore"] is True
    assert cfg["userland-proxy"] is False
    assert cfg["ip"] == "127.0.0.1"
    assert host.file("/etc/docker/daemon.json").mode == 0o644


def test_running_daemon_uses_the_config(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "local"
    assert info["LiveRestoreEnabled"] is True
    assert info["Driver"] == "overlay2"
    assert "registry.divan.test:5000" in json.dumps(info["RegistryConfig"])


def test_python_sdk_present_for_community_docker(host):
    host.run_test("python3 -c 'import docker'")


def test_deploy_user_in_docker_group(host):
    assert "docker" in host.user("deploy").groups


@pytest.fixture(scope="module")
def published_container(host):
    """A container publishing port 18080 with no -p address: the daemon default applies.

    No image can be pulled here, so the probe image holds only the usr-merge
    links and borrows the host's /usr (python3) read-only.
    """
    host.run("docker rm -f %s" % PROBE_NAME)
    host.run_test(
        "d=$(mktemp -d) && ln -s usr/bin $d/bin && ln -s usr/lib $d/lib && ln -s usr/lib64 $d/lib64"
        " && tar -C $d -c . | docker import - %s" % PROBE_IMAGE
    )
    host.run_test(
        "docker run -d --name %s -p 18080:8000 -v /usr:/usr:ro -w /usr %s "
        "/usr/bin/python3 -m http.server 8000" % (PROBE_NAME, PROBE_IMAGE)
    )
    for _unused in range(50):
        if host.run("curl -fsS -o /dev/null http://127.0.0.1:18080/").rc == 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail("probe container never answered: %s" % host.run("docker logs %s" % PROBE_NAME))
    yield
    host.run("docker rm -f %s" % PROBE_NAME)


def test_published_port_bound_to_loopback(host, published_container):
    ports = host.check_output("docker port %s 8000/tcp" % PROBE_NAME)
    assert ports.splitlines() == ["127.0.0.1:18080"], ports


def test_published_port_reachable_on_loopback(host, published_container):
    out = host.run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:18080/")
    assert out.stdout == "200"


def test_published_port_not_reachable_on_other_addresses(host, published_container):
    addrs = host.check_output(
        "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1"
    ).split()
    assert addrs, "the container has no global IPv4 address to test"
    for addr in addrs:
        out = host.run("curl -s -o /dev/null --max-time 3 http://%s:18080/" % addr)
        assert out.rc != 0, "port 18080 answers on %s" % addr


def test_no_userland_proxy_process(host, published_container):
    assert host.run("pgrep -x docker-proxy").rc == 1
