#!/usr/bin/env bash
# The README's main command (`make demo`): start the local systemd container
# target (divan-demo) and converge site.yml onto it with inventories/local.
# Running it again converges again (a second run reports changed=0).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" NO_COLOR=1 PY_COLORS=0
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
if [ "$(docker inspect -f '{{.State.Running}}' divan-demo 2>/dev/null)" != true ]; then
  molecule create -s demo
  molecule prepare -s demo --force
fi
ansible-playbook -i inventories/local site.yml "$@"
echo
echo "divan-demo converged. Shell: docker exec -it divan-demo bash    Remove: make demo-destroy"
