"""Helpers of the scenarios' testinfra tests (molecule/<scenario>/tests/), which
find this folder through their conftest.py."""

import json
import os
import subprocess
import time
from pathlib import Path

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[3])


def ansible_playbook(playbook, *extra_vars, tags=None, args=()):
    """ansible-playbook -i <the scenario's inventory> <playbook> with this checkout's
    roles and collection, each of extra_vars as one JSON -e; (rc, output)."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_NOCOLOR="1",
        MOLECULE_PROJECT_DIRECTORY=str(PROJECT),
    )
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)] + list(args)
    if tags:
        cmd += ["--tags", tags]
    for extra in extra_vars:
        cmd += ["-e", json.dumps(extra)]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def seconds_until_green(status_of, routes, limit=90):
    """Asks status_of(route) for every route once a second, up to limit seconds:
    (seconds until all answered 200, or None; the routes that did not)."""
    start = time.monotonic()
    pending = list(routes)
    while time.monotonic() - start < limit:
        pending = [route for route in routes if status_of(route) != "200"]
        if not pending:
            return time.monotonic() - start, []
        time.sleep(1)
    return None, pending


def assert_units_came_back(show, where, units):
    """Every unit active and restarted at most once; show(command) runs a command
    on the host and returns its output."""
    for unit in units:
        props = dict(line.split("=", 1) for line in show(
            "systemctl show -p ActiveState -p NRestarts %s" % unit).splitlines() if "=" in line)
        print("%s %s: %s, restarted %s times" % (where, unit, props.get("ActiveState"), props.get("NRestarts")))
        assert props.get("ActiveState") == "active", (where, unit, props)
        assert int(props["NRestarts"]) <= 1, (where, unit, props)
