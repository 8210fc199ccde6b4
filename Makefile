VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install bytecode test demo demo-docker demo-monorepo lint typecheck check bench clean docs

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

# Bytecode for every module, as a wheel install has: where PYTHONDONTWRITEBYTECODE is
# set, each cbdeploy process (and each packaging worker) would compile them again.
bytecode: $(STAMP)
	$(PY) -m compileall -q client runner emulator buildspec >/dev/null

# In TEST_WORKERS processes (pytest-xdist); --dist loadfile keeps a module's tests on one
# worker, in order (tests/functional/test_delta_deploys.py's steps build on each other).
# TEST_WORKERS=0: one process.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(PY) -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

demo: $(STAMP)
	cd examples/static-site && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cbdeploy deploy --stage dev --region us-east-1 --local

# Needs a Docker engine, docker-registry and busybox-static on this machine.
# Deploys examples/docker-image on the emulator, then runs the pushed image once.
demo-docker: $(STAMP)
	cd examples/docker-image && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cbdeploy deploy --stage dev --region us-east-1 --local --yes --json >$(CURDIR)/.demo-docker.json
	@uri="$$($(PY) -c 'import json; print(json.load(open(".demo-docker.json"))["outputs"]["IMAGE_URI_APP"])')" && \
		rm -f .demo-docker.json && echo "docker run --rm $$uri" && docker run --rm "$$uri"

# Deploys examples/monorepo's three services as one CodeBuild batch on the emulator:
# infra first, then api and worker in parallel, all from one archive of the workspace.
demo-monorepo: $(STAMP)
	cd examples/monorepo && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cbdeploy deploy --stage dev --region us-east-1 --local --yes

# docs/config.md is generated from client/config/ (a test fails when it is stale).
docs: $(STAMP)
	$(PY) -m cbdeploy.client.config.reference > docs/config.md

lint: $(STAMP)
	$(VENV)/bin/ruff check client runner emulator tests bench

typecheck: $(STAMP)
	mkdir -p .typecheck/cbdeploy
	for d in client runner emulator buildspec; do ln -sfn ../../$$d .typecheck/cbdeploy/$$d; done
	$(VENV)/bin/mypy

check: lint typecheck test

bench: bytecode
	$(PY) bench/package.py $(if $(BENCH_REPO),--repo $(BENCH_REPO))
	$(PY) bench/deploy_overhead.py --cold $(if $(BENCH_REPO),--repo $(BENCH_REPO))
	$(PY) bench/delta.py
	$(PY) bench/follow.py
	$(PY) bench/render.py
	$(PY) bench/monorepo.py
	$(PY) bench/batch_follow.py

bench-docker: $(STAMP)
	$(PY) bench/docker.py

clean:
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache
