# -*- coding: utf-8 -*-
"""The app role's backend command: gunicorn with uvicorn workers, one worker by default.

One: the backend's Socket.IO has no Redis manager, so a session lives in one
process (the stand-in image reproduces it: 400 "Invalid session" on another
worker); the role scales with replicas instead.

Runs the role's own backend-server tasks on the controller (connection local,
gunicorn chosen explicitly so that no image is probed) and reads the command
the compose file would get.
"""

import json
import os
import subprocess

import pytest

from integration_helpers import BIN, ROOT, ansible_env

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: divan.platform.app
        tasks_from: backend-server.yml
        public: true
    - ansible.builtin.copy:
        content: "{{ app_backend_commands[app_backend_server_effective] | to_json }}"
        dest: "{{ divan_test_out }}"
        mode: "0600"
"""


def backend_command(tmp_path, **extra_vars):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    out = tmp_path / "cmd.json"
    ev = dict({"app_version": "1.0.0", "app_backend_server": "gunicorn", "divan_test_out": str(out)}, **extra_vars)
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book),
         "-e", json.dumps(ev)],
        env=ansible_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return json.loads(out.read_text())


def test_default_is_one_worker(tmp_path):
    cmd = backend_command(tmp_path)
    assert cmd[:2] == ["gunicorn", "app.main:socket_app"]
    assert cmd[cmd.index("--worker-class") + 1] == "uvicorn.workers.UvicornWorker"
    assert cmd[cmd.index("--workers") + 1] == "1"


@pytest.mark.parametrize("workers", [2, 5])
def test_backend_workers_variable_wins(tmp_path, workers):
    cmd = backend_command(tmp_path, app_backend_workers=workers)
    assert cmd[cmd.index("--workers") + 1] == str(workers)


def test_uvicorn_alone_when_asked(tmp_path):
    cmd = backend_command(tmp_path, app_backend_server="uvicorn", app_backend_workers=3)
    assert cmd[:2] == ["uvicorn", "app.main:socket_app"] and cmd[cmd.index("--workers") + 1] == "3"
