"""Static checks, each a test so that `make test` reports one summary."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(cmd, **kw):
    proc = subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kw
    )
    return proc.returncode, proc.stdout


def test_yamllint_clean():
    rc, out = _run([str(BIN / "yamllint"), "-s", "."])
    assert rc == 0, out


def test_ansible_lint_production_profile_clean():
    rc, out = _run([str(BIN / "ansible-lint"), "--profile", "production", "--offline", "--nocolor"])
    assert rc == 0, out[-6000:]


def test_collection_builds(tmp_path):
    rc, out = _run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), "."])
    assert rc == 0, out
    built = list(tmp_path.glob("divan-platform-*.tar.gz"))
    assert len(built) == 1, out
    listing = subprocess.run(["tar", "-tzf", str(built[0])], stdout=subprocess.PIPE, text=True, check=True).stdout
    assert "roles/docker/tasks/main.yml" in listing
    assert ".venv/" not in listing and ".collections/" not in listing


def test_every_role_has_argument_specs_and_documented_defaults():
    import yaml

    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    assert roles
    for role in roles:
        specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
        # Every entry point (main and each tasks_from one) validates its own
        # variables; a default is documented when some entry point lists it.
        options = {}
        for entry in specs["argument_specs"].values():
            options.update(entry.get("options") or {})
        defaults_file = role / "defaults/main.yml"
        defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
        defaults = defaults or {}
        for name in defaults:
            assert name.startswith(role.name + "_"), "%s: %s lacks the role prefix" % (role.name, name)
            assert name in options, "%s: %s is not in meta/argument_specs.yml" % (role.name, name)
        for name, spec in options.items():
            if not spec.get("required"):
                assert name in defaults, "%s: optional %s has no default in defaults/main.yml" % (role.name, name)


def test_every_task_is_named():
    import yaml

    unnamed = []
    for path in list((ROOT / "roles").glob("*/tasks/*.yml")) + list((ROOT / "roles").glob("*/handlers/*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            if "name" not in task:
                unnamed.append(str(path.relative_to(ROOT)))
    assert not unnamed, unnamed


def test_ansible_test_sanity_clean():
    """ansible-test sanity over the whole collection (tests/harness/sanity.sh; first run downloads its venvs)."""
    rc, out = _run(["bash", "tests/harness/sanity.sh"])
    assert rc == 0, out[-6000:]


def test_ansible_test_units_pass():
    """ansible-test units over tests/unit/ (tests/harness/sanity.sh units; first run downloads its venv)."""
    rc, out = _run(["bash", "tests/harness/sanity.sh", "units"])
    assert rc == 0, out[-6000:]
    assert " passed" in out and " failed" not in out, out[-6000:]
