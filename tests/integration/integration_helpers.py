# -*- coding: utf-8 -*-
"""Constants and ansible runners for the integration tests (a plain module: test files import it by name)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

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


class UvicornServer(object):
    """An ASGI app served by uvicorn in a thread on a free loopback port (TLS with tls_cert)."""

    def __init__(self, app, tls_cert=None):
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', 0))
        self.port = sock.getsockname()[1]
        kwargs = {}
        if tls_cert:
            kwargs.update(ssl_certfile=tls_cert['cert'], ssl_keyfile=tls_cert['key'])
        config = uvicorn.Config(app, log_level='warning', lifespan='off', ws='websockets-sansio', **kwargs)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={'sockets': [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError('uvicorn did not start')
            time.sleep(0.02)
        self.url = '%s://127.0.0.1:%d' % ('https' if tls_cert else 'http', self.port)
        self.ws_url = '%s://127.0.0.1:%d' % ('wss' if tls_cert else 'ws', self.port)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
