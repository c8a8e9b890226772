# mlops.stack: the two commands users need are `make up` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
# Upstream chart values, schemas and CRDs for the offline render checks (see docs/testing.md).
MLOPS_UPSTREAM_DIR ?= $(if $(wildcard $(CURDIR)/../shared/upstream),$(abspath $(CURDIR)/../shared/upstream),$(CURDIR)/.cache/upstream)
export MLOPS_UPSTREAM_DIR
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PATH := $(CURDIR)/.tools/bin:$(BIN):$(PATH)
export PATH
PYTEST_ARGS ?= -n 2 --durations=15

.PHONY: help up down setup test-setup test lint syntax sanity pytest molecule docs upstream-data clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

up: ## Create a local kind cluster and deploy the whole stack onto it
	@scripts/prerequisites.sh
	@$(MAKE) --no-print-directory setup
	@scripts/tools.sh kind helm
	ansible-playbook playbooks/kind.yml
	ansible-playbook playbooks/site.yml -i inventories/kind

down: ## Delete the local kind cluster
	@if ! command -v kind >/dev/null 2>&1; then \
	  echo "make down: kind is not installed (make up installs it into .tools/bin), so there is no kind cluster to delete."; \
	  exit 0; fi; \
	$(MAKE) --no-print-directory setup && ansible-playbook playbooks/kind.yml -e kind_state=absent

setup: $(VENV)/.installed .collections/ansible_collections/mlops/stack ## Create .venv with the runtime packages

test-setup: $(VENV)/.installed-test .collections/ansible_collections/mlops/stack ## .venv with the test tools, the pinned helm, shellcheck
	@scripts/tools.sh helm
	@scripts/system-deps.sh

# The venv runs on Python >= 3.12 (scripts/find-python.sh finds one, pyenv-aware, or says what
# is needed); a venv left from an older interpreter is rebuilt.
$(VENV)/.python-ok:
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || { \
	  py=$$(scripts/find-python.sh) || exit 2; rm -rf $(VENV); echo "Creating $(VENV) with $$py"; \
	  "$$py" -m venv $(VENV); }
	touch $@

$(VENV)/.installed: requirements.txt | $(VENV)/.python-ok
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(VENV)/.python-ok
	$(PIP) install -r requirements-test.txt
	touch $(VENV)/.installed $@

# The checkout, seen as the collection mlops.stack (ansible.cfg points collections_path here).
.collections/ansible_collections/mlops/stack:
	mkdir -p .collections/ansible_collections/mlops
	ln -sfn ../../.. $@

test: test-setup ## Run every offline test layer (what CI runs); prints each layer's wall time
	@for layer in lint syntax sanity; do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$layer || { echo "make test: layer $$layer FAILED after $$(( $$(date +%s) - start )) s"; exit 1; }; \
	  echo "make test: layer $$layer passed in $$(( $$(date +%s) - start )) s"; \
	done
	@# pytest and molecule run side by side: both spend much of their time waiting on emulated
	@# controllers and real servers, so together they keep the two cores busy. Molecule's output
	@# (in a temporary file meanwhile) follows pytest's.
	@start=$$(date +%s); log=$$(mktemp); \
	( $(MAKE) --no-print-directory molecule >"$$log" 2>&1; echo $$? >"$$log.rc"; echo $$(( $$(date +%s) - start )) >"$$log.s" ) & \
	$(MAKE) --no-print-directory pytest; prc=$$?; \
	echo "make test: layer pytest $$([ $$prc = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s"; \
	wait; mrc=$$(cat "$$log.rc"); cat "$$log"; \
	echo "make test: layer molecule $$([ $$mrc = 0 ] && echo passed || echo FAILED) in $$(cat "$$log.s") s (alongside pytest)"; \
	rm -f "$$log" "$$log.rc" "$$log.s"; [ $$prc = 0 ] && [ $$mrc = 0 ]

lint: test-setup ## yamllint + ansible-lint (production profile) + changelog fragments
	yamllint --strict .
	ansible-lint
	antsibull-changelog lint

syntax: test-setup ## ansible-playbook --syntax-check of every playbook
	@for p in playbooks/*.yml; do \
	  ansible-playbook --syntax-check -i inventories/kind "$$p" >/dev/null || { echo "syntax-check failed: $$p"; exit 1; }; \
	  echo "syntax-check ok: $$p"; done

sanity: test-setup ## ansible-test sanity (in a temporary ansible_collections tree)
	VENV=$(VENV) scripts/sanity.sh

pytest: test-setup ## Unit, harness, render and emulated-cluster tests
	python -m pytest $(PYTEST_ARGS)

molecule: test-setup ## The emulated molecule scenario (converge, idempotence, verify)
	cd extensions && molecule test -s emulated

docs: test-setup ## Regenerate docs/versions.md from roles/common/vars/versions.yml
	python scripts/gen_docs.py

upstream-data: setup ## Pull the pinned charts (needs helm + internet) into .cache/upstream
	scripts/tools.sh helm && $(BIN)/python scripts/upstream_data.py "$(CURDIR)/.cache/upstream"

clean: ## Remove the virtualenv, tools and caches
	rm -rf $(VENV) .tools .collections .cache .pytest_cache
