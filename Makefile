# divan.platform: the two commands of the README, and their parts.
#
#   make demo   converge the local default target (a systemd container)
#   make test   lint, unit tests, module integration tests, molecule scenarios
#
# Both create .venv and install requirements.txt first.

SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/divan/platform
# Scenarios for `make molecule` (default: all). Example: make molecule SCENARIOS="docker redis"
SCENARIOS ?=
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PATH := $(BIN):$(PATH)
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0
# The scenarios live in molecule/ (without this, molecule warns on every
# command that a collection's scenarios belong in extensions/molecule/).
export MOLECULE_GLOB := molecule/*/molecule.yml

.PHONY: venv images lint sanity unit integration molecule test demo demo-destroy build clean docs

venv: $(VENV)/.installed $(COLLECTION_LINK)

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

images: venv
	tests/harness/build-base-images.sh

lint: venv
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production --offline

sanity: venv
	tests/harness/sanity.sh

unit: venv
	$(BIN)/pytest tests/unit

integration: venv
	$(BIN)/pytest tests/integration

molecule: venv images
	tests/harness/molecule.sh $(SCENARIOS)

# The README's test command: everything, in one pytest-reported run per part.
test: venv
	tests/harness/test-all.sh

# Builds only what the demo uses: the Debian 13 base image and the 1.0.0
# stand-ins (tests/harness/demo.sh).
demo: venv
	tests/harness/demo.sh

# The container, its anonymous volume (keep_volumes: false in
# .config/molecule/config.yml) and nothing else of the demo is left.
demo-destroy: venv
	cd $(CURDIR) && $(BIN)/molecule --env-file molecule/demo/env.yml destroy -s demo

# The role pages docs/roles/*.md, from each role's meta/argument_specs.yml
# (tests/lint/test_docs.py fails when they are stale).
docs: venv
	$(BIN)/python docs/generate.py

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/dist .

clean:
	rm -rf .cache .collections
