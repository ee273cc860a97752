# -*- coding: utf-8 -*-
"""Constants and ansible runners for the integration tests (a plain module: test files import it by name)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)

ADMIN_TOKEN = 'c0ffee' * 8
SMTP_USER = 'divan-mailer'
SMTP_PASSWORD = 'S3cure-' + 'f00d' * 8
S3_ACCESS_KEY = 'AKIADIVANTEST0000001'
S3_SECRET_KEY = 'divan/test/' + 'abcd' * 8


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        # set by tests/conftest.py to a path holding ansible_collections/divan/platform
        'ANSIBLE_COLLECTIONS_PATH': os.environ['ANSIBLE_COLLECTIONS_PATH'],
        'AWS_EC2_METADATA_DISABLED': 'true',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'PATH': BIN + os.pathsep + env.get('PATH', ''),
    })
    env.update(extra or {})
    return env


def run_module(module, args, check=False, verbosity=0, timeout=120):
    """Run ``ansible localhost -m divan.platform.<module>``; returns (rc, host_result, stdout+stderr)."""
    cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
           '-m', 'divan.platform.%s' % module, '-a', json.dumps(args)]
    if check:
        cmd.append('--check')
    if verbosity:
        cmd.append('-' + 'v' * verbosity)
    proc = subprocess.run(cmd, env=ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json'}),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout,
                          cwd=ROOT, check=False)
    output = proc.stdout + proc.stderr
    start = proc.stdout.find('{')
    try:
        doc = json.loads(proc.stdout[start:])
        host = doc['plays'][0]['tasks'][0]['hosts']['localhost']
    except (ValueError, KeyError, IndexError):
        raise AssertionError('no JSON result from ansible (rc %d):\n%s' % (proc.returncode, output))
    return proc.returncode, host, output


def run_playbook(args, timeout=120, env=None):
    cmd = [os.path.join(BIN, 'ansible-playbook')] + list(args)
    proc = subprocess.run(cmd, env=ansible_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, cwd=ROOT, check=False)
    return proc.returncode, proc.stdout + proc.stderr
