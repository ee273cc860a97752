# -*- coding: utf-8 -*-
"""inventories/production as shipped passes site.yml's preflight (the app role's checks on the controller).

Only the secrets (a vault file the operator fills with playbooks/secrets.yml,
here extra vars with random values) are added. The plays that touch hosts are
not run: the preflight and the deploy lock (tag always) run with a local
connection, the lock in a temporary folder.
"""

import json
import os
import re
import secrets

from integration_helpers import ROOT, run_playbook

SECRETS = ['vault_secret_key', 'vault_service_signing_key', 'vault_refresh_pepper', 'vault_obs_admin_token',
           'vault_postgres_password', 'vault_redis_password', 'vault_registry_password', 'vault_smtp_password']


def preflight(tmp_path, **extra):
    values = {key: secrets.token_hex(32) for key in SECRETS}
    values.update(ansible_connection='local', ansible_python_interpreter=os.path.join(ROOT, '.venv', 'bin', 'python'),
                  deploy_lock_path=str(tmp_path / 'deploy.lock'))
    values.update(extra)
    extra_file = tmp_path / 'extra.json'
    extra_file.write_text(json.dumps(values))
    return run_playbook(['-i', os.path.join(ROOT, 'inventories', 'production'), os.path.join(ROOT, 'site.yml'),
                         '--tags', 'preflight', '-e', '@%s' % extra_file], timeout=300)


def test_production_inventory_passes_the_preflight(tmp_path):
    rc, out = preflight(tmp_path)
    assert rc == 0, out[-4000:]
    assert 'failed=0' in out, out[-4000:]
    # The checks ran (without app_env in the inventory they are skipped).
    for task in ('Check the uploads settings', 'Check the backend environment against the Divan contract'):
        assert re.search(r'TASK \[divan\.platform\.app : %s\][^\n]*\n+ok: \[divan-prod-1 -> localhost\]' % task, out), task
    # Every role's argument spec accepted the inventory's values.
    assert len(re.findall(r'Validating arguments against arg spec', out)) >= 10, out[-4000:]
    assert not (tmp_path / 'deploy.lock').exists()


def test_the_preflight_of_the_production_inventory_can_fail(tmp_path):
    rc, out = preflight(tmp_path, vault_secret_key='changeme')
    assert rc != 0, out[-4000:]
    assert 'SECRET_KEY' in out, out[-4000:]
