# fedmesh.cluster — developer entry points.  `make demo` and `make test` install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_HOME := $(CURDIR)/.ansible
export CONTAINERS_CONF := $(CURDIR)/tests/testbed/containers.conf
export PYTHONPATH := $(CURDIR)/tests:$(CURDIR)/src

# Everything the test bed runs on the host (tests/testbed/doctor.sh names the command each one provides).
# A minimal Debian 12 lacks iptables (netavark executes it) and python3-venv; the fresh-host check
# (tests/testbed/fresh-host.sh, a stage of `make test`) proves this list is enough on a pristine install.
APT_PACKAGES := podman runc netavark aardvark-dns iptables debootstrap uidmap slirp4netns fuse-overlayfs shellcheck \
                openssh-client iproute2 git python3 python3-venv gpg
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := .build/fedmesh-cluster-$(VERSION).tar.gz
COLLECTION_SOURCES := $(shell git ls-files -co --exclude-standard 2>/dev/null | grep -vE "^(collection/|demo-output/|inventories/demo/hosts.yml)")

S ?= default
F ?=

.PHONY: bench help deps doctor fresh-host-check image collection unit lint sanity molecule molecule-all integration test demo clean gc

help:
	@echo "make deps          apt packages (Debian), then \`make doctor\`, then the venv"
	@echo "make doctor        name every missing command the test bed needs, and its Debian package"
	@echo "make demo          build nodes, provision them with site.yml from the installed collection, run an FL round"
	@echo "                  (STORAGE=ceph: Ceph instead of GlusterFS on the storage nodes)"
	@echo "make test          every test (unit, lint, sanity, Molecule, integration) on real test-bed nodes"
	@echo "make unit          unit tests only (no hosts)"
	@echo "make lint          ruff, mypy, ansible-lint, antsibull-docs"
	@echo "make sanity        ansible-test sanity on the built collection"
	@echo "make molecule S=x  one Molecule scenario (default: default)"
	@echo "make integration F=tests/integration/test_x.py   integration tests (one file with F=)"
	@echo "make bench        benchmarks (aggregation vs floor and Flower, service ingest, mesh converge)"
	@echo "make fresh-host-check  make deps on a pristine Debian 12 (in a container), then two containers ping by name"
	@echo "make gc            remove every container/network/volume this checkout left behind"

# ---------------------------------------------------------------- set-up (idempotent)
# The stamp depends on the Makefile, so a package added to APT_PACKAGES is installed on the next run.
.build/apt.stamp: Makefile
	@mkdir -p .build
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "apt: installing" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@touch $@

doctor:
	@bash tests/testbed/doctor.sh

$(VENV)/.stamp: requirements/dev.lock | .build/apt.stamp doctor
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/dev.lock
	@touch $@

# FEDMESH_DEPS_NO_VENV=1 stops after apt + doctor (the fresh-host check uses it to stay within minutes).
deps: .build/apt.stamp doctor $(if $(FEDMESH_DEPS_NO_VENV),,$(VENV)/.stamp)

image: deps
	$(PY) -m testbed image

# Build the tarball, install it offline into a staging folder, then swap it in with two renames, so a
# playbook started meanwhile (another scenario, a second terminal) never sees a half-installed
# collection.  (A symlink would be atomic, but Ansible's role cache breaks on symlinked collection paths.)
$(TARBALL): $(COLLECTION_SOURCES) | deps
	@mkdir -p .build
	@tmp=$$(mktemp -d .build/tarball.XXXX) && \
	  $(BIN)/ansible-galaxy collection build --force --output-path $$tmp . >/dev/null && \
	  mv -f $$tmp/*.tar.gz $(TARBALL) && rmdir $$tmp
	@stage=$$(mktemp -d collection/.staging.XXXX) && \
	  ANSIBLE_COLLECTIONS_PATH=$$stage $(BIN)/ansible-galaxy collection install --offline --force -p $$stage $(TARBALL) >/dev/null && \
	  old=$$(mktemp -d collection/.old.XXXX) && \
	  { [ ! -e collection/ansible_collections ] || mv collection/ansible_collections $$old/; } && \
	  mv $$stage/ansible_collections collection/ansible_collections && \
	  rm -rf $$stage $$old .build/installed
	@echo "built and installed $(TARBALL) into collection/"

collection: $(TARBALL)

# ---------------------------------------------------------------- tests
unit: deps
	$(BIN)/pytest -q tests/unit

lint: collection  # ansible-lint resolves fedmesh.cluster.* from the installed collection (ansible.cfg)
	$(BIN)/ruff check .
	$(BIN)/mypy plugins/module_utils plugins/plugin_utils plugins/filter plugins/lookup src bench tools tests/testbed tests/demo tests/integration
	rm -rf .ansible/collections/ansible_collections/fedmesh  # never lint against a stale copy
	$(BIN)/ansible-lint
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	$(BIN)/antsibull-changelog lint

sanity: collection
	bash tests/sanity.sh

molecule: collection image
	bash tests/molecule.sh $(S)

molecule-all: collection image
	bash tests/molecule.sh all

integration: collection image
	$(BIN)/pytest -v $(or $(F),tests/integration)

test: deps
	bash tests/run-all.sh

fresh-host-check: deps
	bash tests/testbed/fresh-host.sh

# ---------------------------------------------------------------- benchmarks
# flwr pins packages below the dev tool chain, so the comparison runs in its own venv.
.venv-bench/.stamp: requirements/bench.txt
	@test -x .venv-bench/bin/python || python3 -m venv .venv-bench
	.venv-bench/bin/pip install -q --disable-pip-version-check -r requirements/bench.txt
	@touch $@

bench: .venv-bench/.stamp collection image
	.venv-bench/bin/python bench/aggregation.py $(BENCH_ARGS)
	$(PY) bench/mesh_converge.py $(MESH_BENCH_ARGS)

# ---------------------------------------------------------------- demo
demo: collection image
	bash tests/demo.sh

gc: deps
	$(PY) -m testbed gc

clean: gc
	rm -rf .build collection/ansible_collections .testbed
