"""Packaging: what the built tarball holds, and that it runs once installed.

The tarball is built once per module from the checkout (ansible-galaxy
collection build), installed offline into a temporary collections path (its
dependencies resolve against the collections of the `ansible` package in the
virtualenv, so a version range in galaxy.yml that the installed collections
do not satisfy fails the install), and its site playbook is syntax-checked as
divan.platform.site from a folder outside the checkout, with nothing but the
temporary install and the virtualenv's collections on the collections path.
"""

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The collections of the `ansible` package (community.*, ansible.posix).
VENV_COLLECTIONS = Path(sysconfig.get_paths()["purelib"])

MUST_HOLD = ["roles/", "plugins/", "playbooks/", "meta/runtime.yml", "LICENSE", "README.md",
             "CHANGELOG.rst", "changelogs/changelog.yaml", "execution-environment.yml", "requirements.yml",
             "bindep.txt", "MANIFEST.json", "FILES.json"]
MUST_NOT_HOLD = ["molecule/", "bench/", "tests/", "Makefile", ".venv/", ".cache/", ".collections/", ".ci/",
                 ".config/", ".git/", "ansible.cfg", "requirements.txt", "inventories/local/"]

TINY_INVENTORY = """\
all:
  children:
    divan_proxy: {hosts: {divan-test-1: {}}}
    divan_app: {hosts: {divan-test-1: {}}}
    divan_db: {hosts: {divan-test-1: {}}}
    divan_redis: {hosts: {divan-test-1: {}}}
    divan_monitoring: {hosts: {divan-test-1: {}}}
"""


def _run(cmd, cwd=ROOT, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    return proc.returncode, proc.stdout


def _outside_env(collections_path):
    """An environment that sees only the temporary install and the virtualenv's collections.

    No ANSIBLE_* variable of the caller's (the Makefile exports the checkout's
    ansible.cfg and .collections), and an empty ansible.cfg next to the
    collections path so that no other configuration file is read.
    """
    config = Path(collections_path).parent / "empty-ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(collections_path), str(VENV_COLLECTIONS)]),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_CONFIG=str(config),
        PATH=str(BIN) + os.pathsep + env.get("PATH", ""),
    )
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    rc, log = _run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), "."])
    assert rc == 0, log
    built = list(out.glob("divan-platform-*.tar.gz"))
    assert len(built) == 1, log
    return built[0]


@pytest.fixture(scope="module")
def members(tarball):
    with tarfile.open(tarball) as tar:
        return [m.name + ("/" if m.isdir() else "") for m in tar.getmembers()]


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    path = tmp_path_factory.mktemp("collections")
    outside = tmp_path_factory.mktemp("outside")
    rc, log = _run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(path), str(tarball)],
                   cwd=outside, env=_outside_env(path))
    assert rc == 0, log
    assert (path / "ansible_collections/divan/platform/MANIFEST.json").is_file(), log
    return path


def test_tarball_holds_what_users_run(members):
    missing = [m for m in MUST_HOLD if not any(n == m or (m.endswith("/") and n.startswith(m)) for n in members)]
    assert not missing, "missing from the tarball: %s" % missing


def test_tarball_leaves_out_the_development_tree(members):
    leaked = sorted(n for n in members for m in MUST_NOT_HOLD if n == m or n.startswith(m))
    assert not leaked, "in the tarball but not for users: %s" % leaked[:40]
    junk = [n for n in members if n.endswith((".pyc", ".tar.gz")) or ("group_vars/" in n and "secrets" in n)
            or any(part in ("__pycache__", ".venv", ".cache", ".git", "molecule") for part in n.split("/"))]
    assert not junk, junk


def test_tarball_size_stays_small(tarball, members):
    # 0.1.0: about 300 members, 250 kB. Ten times that means something large got in.
    assert len(members) < 1500, len(members)
    assert tarball.stat().st_size < 2_500_000, tarball.stat().st_size


def test_installed_tarball_runs_site_as_fqcn(installed, tmp_path):
    if not (ROOT / "playbooks/site.yml").is_file():
        pytest.fail("playbooks/site.yml does not exist in the checkout yet (issue 19, item 3 moves site.yml "
                    "into playbooks/), so `ansible-playbook divan.platform.site` cannot work from the tarball")
    (tmp_path / "hosts.yml").write_text(TINY_INVENTORY)
    rc, log = _run([str(BIN / "ansible-playbook"), "divan.platform.site", "--syntax-check", "-i", "hosts.yml"],
                   cwd=tmp_path, env=_outside_env(installed))
    assert rc == 0, log
    assert str(installed / "ansible_collections/divan/platform/playbooks/site.yml") in log, log


@pytest.mark.parametrize("playbook", sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml")))
def test_installed_tarball_runs_every_playbook_as_fqcn(installed, tmp_path, playbook):
    (tmp_path / "hosts.yml").write_text(TINY_INVENTORY)
    if re.fullmatch(r"[a-z_][a-z0-9_]*", playbook):
        target = "divan.platform." + playbook
    else:  # not a valid FQCN part (a dash, say): the installed file by its path
        target = str(installed / "ansible_collections/divan/platform/playbooks" / (playbook + ".yml"))
    rc, log = _run([str(BIN / "ansible-playbook"), target, "--syntax-check", "-i", "hosts.yml"],
                   cwd=tmp_path, env=_outside_env(installed))
    assert rc == 0, log


def _galaxy():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())


def test_every_collection_used_is_declared():
    """Every namespace.collection.name in what the tarball ships (roles/, playbooks/, plugins/, the example
    inventories) whose collection the virtualenv holds is a dependency in galaxy.yml (ansible.builtin and
    divan.platform aside)."""
    declared = set(_galaxy()["dependencies"])
    known = {"%s.%s" % (ns.name, c.name) for ns in (VENV_COLLECTIONS / "ansible_collections").iterdir()
             if ns.is_dir() for c in ns.iterdir() if c.is_dir()}
    fqcn = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
    used = {}
    for top in ("roles", "playbooks", "plugins", "inventories/production", "inventories/fleet"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2", ".py"):
                for ns, coll in fqcn.findall(path.read_text(errors="replace")):
                    name = "%s.%s" % (ns, coll)
                    if name in known and name not in ("ansible.builtin", "divan.platform"):
                        used.setdefault(name, str(path.relative_to(ROOT)))
    assert "ansible.posix" in used, used  # roles/bootstrap: ansible.posix.mount, ansible.posix.authorized_key
    undeclared = {name: where for name, where in used.items() if name not in declared}
    assert not undeclared, "used but not in galaxy.yml dependencies: %s" % undeclared


def test_requirements_yml_matches_galaxy_dependencies():
    reqs = yaml.safe_load((ROOT / "requirements.yml").read_text())
    assert {c["name"]: c["version"] for c in reqs["collections"]} == _galaxy()["dependencies"]


def test_license_matches_galaxy():
    assert _galaxy()["license"] == ["GPL-3.0-or-later"]
    text = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_requires_ansible_is_the_tested_core():
    import ansible.release

    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    major, minor = (int(x) for x in ansible.release.__version__.split(".")[:2])
    assert runtime["requires_ansible"] == ">=%d.%d.0,<%d.%d.0" % (major, minor, major, minor + 1)


def test_execution_environment_build_context(tmp_path):
    """ansible-builder writes the build context (no image is built: that needs a registry)."""
    rc, log = _run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml",
                    "-c", str(tmp_path / "context"), "--output-filename", "Containerfile"])
    assert rc == 0, log
    build = tmp_path / "context/_build"
    containerfile = (tmp_path / "context/Containerfile").read_text()
    assert "ansible-core>=2.19.0,<2.20.0" in containerfile
    assert yaml.safe_load((build / "requirements.yml").read_text()) == yaml.safe_load(
        (ROOT / "requirements.yml").read_text())
    assert "passlib" in (build / "requirements.txt").read_text()
    assert "openssh-clients" in (build / "bindep.txt").read_text()


def test_changelog_fragments_lint_and_changelog_is_generated(tmp_path):
    rc, log = _run([str(BIN / "antsibull-changelog"), "lint"])
    assert rc == 0, log
    changelog = (ROOT / "CHANGELOG.rst").read_text()
    releases = yaml.safe_load((ROOT / "changelogs/changelog.yaml").read_text())["releases"]
    assert _galaxy()["version"] in releases
    # What `antsibull-changelog generate` writes: regenerate in a copy and compare.
    copy = tmp_path / "copy"
    (copy / "changelogs").mkdir(parents=True)
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        (copy / name).write_text((ROOT / name).read_text())
    for path in (ROOT / "changelogs").rglob("*"):
        if path.is_file():
            dest = copy / path.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    rc, log = _run([str(BIN / "antsibull-changelog"), "generate"], cwd=copy)
    assert rc == 0, log
    assert (copy / "CHANGELOG.rst").read_text() == changelog, (
        "CHANGELOG.rst is not what `antsibull-changelog generate` writes from changelogs/: run it")
