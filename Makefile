# Everything runs from a local .venv built from requirements.lock, so results do not depend on the
# day you install. `make lock` is the only target that resolves versions afresh.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install services test lint repro bench bench-fleet bench-live value live-demo lock clean docker-build docker-backtest

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

test: install services
	$(BIN)/python -m pytest

# The live store's tests start their own PostgreSQL server from Debian's packages.
services:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; \
		else echo "install Debian's postgresql package (sudo apt-get install postgresql)"; exit 1; fi; }

lint: install
	$(BIN)/ruff check gridq tests
	$(BIN)/ruff format --check gridq tests
	$(BIN)/mypy gridq/engine

# The main job: the DVC pipeline rebuilds every bundle of params.yaml (stages call `gridq`).
repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# Speed and memory live here, never in timed tests: prints a markdown table (takes minutes).
bench: install
	$(BIN)/gridq bench --cases day,month,year,random_year,rolling_year,rolling_year_30min,rolling_year_learned

# Fleets: throughput on 1 and 2 workers, overhead, memory, a projection (about 5 minutes).
bench-fleet: install
	$(BIN)/gridq bench --cases fleet

# Live operations on a simulated home (about 2 minutes): `gridq sim` serves a generated home over
# Modbus TCP at 200x, `gridq live run` operates it for 6 simulated hours, then the operated period
# is exported as a bundle and billed.
DEMO := /tmp/gridq-live-demo
live-demo: install
	rm -rf $(DEMO)
	$(BIN)/gridq generate pv_battery_tou --out $(DEMO)/bundle --days 2 \
		--set rolling.forecast=persistence_day --set rolling.reoptimise_every_min=60
	$(BIN)/gridq live init $(DEMO)/site --bundle $(DEMO)/bundle --port 5020 --api-port 8750
	$(BIN)/gridq live token $(DEMO)/site --name demo --role operator > $(DEMO)/token
	$(BIN)/gridq sim $(DEMO)/bundle --port 5020 --speed 200 --start 2025-03-18T00:00Z --hold & \
		sim=$$!; \
		$(BIN)/gridq live run $(DEMO)/site --until 2025-03-18T06:00Z 2> $(DEMO)/live.log & \
		live=$$!; sleep 15; \
		echo "API: http://127.0.0.1:8750/docs (token in $(DEMO)/token); GET /status now:"; \
		$(BIN)/python -c "$$DEMO_STATUS" $(DEMO)/token; \
		wait $$live; status=$$?; kill $$sim; exit $$status
	$(BIN)/gridq live export $(DEMO)/site --from 2025-03-18T00:00Z --to 2025-03-18T06:00Z \
		--out $(DEMO)/operated
	$(BIN)/gridq bill $(DEMO)/operated
	$(BIN)/gridq live report $(DEMO)/site --out $(DEMO)/live_report.html
	@echo "The controller's log (one JSON line per event): $(DEMO)/live.log"
	@echo "The store (steps, plans, setpoints, events, overrides): $(DEMO)/site/live.sqlite"
	@echo "Plan against actual, events, monthly peaks: $(DEMO)/live_report.html"
	@echo "What happened, as a run bundle: $(DEMO)/operated (gridq baseline, gridq metrics and"
	@echo "gridq report work on it as on any bundle)"

export DEMO_STATUS
define DEMO_STATUS
import sys, urllib.request
token = open(sys.argv[1]).read().strip()
ask = urllib.request.Request("http://127.0.0.1:8750/status", headers={"Authorization": "Bearer " + token})
print(urllib.request.urlopen(ask, timeout=5).read().decode())
endef

# Live operations: tick latency, plan time and memory of gridq live run on a simulated home,
# 30 simulated days at 1000x (about 45 minutes).
bench-live: install
	$(BIN)/gridq bench --cases live --live-days 30 --live-speed 1000

# Achievable value: each example's rolling run per forecast against perfect foresight (minutes).
value: install
	$(BIN)/gridq value

# Docker: the image installs from the lock file; the backtest writes its bundle to ./docker_out.
IMAGE ?= gridq:latest
BASE_IMAGE := python:3.11-slim
DOCKER_OUT := $(CURDIR)/docker_out

docker-build:
	@docker info >/dev/null 2>&1 || { echo "make docker-build: no Docker daemon answers; start Docker (or set DOCKER_HOST) and retry" >&2; exit 2; }
	@docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || docker pull -q $(BASE_IMAGE) >/dev/null 2>&1 || { echo "make docker-build: cannot pull $(BASE_IMAGE): no image registry reachable; pull it where one is, or docker load it" >&2; exit 2; }
	docker build -t $(IMAGE) .

docker-backtest:
	@docker image inspect $(IMAGE) >/dev/null 2>&1 || { echo "make docker-backtest: no image $(IMAGE) (or no Docker daemon); run make docker-build first" >&2; exit 2; }
	mkdir -p $(DOCKER_OUT)
	docker run --rm -v $(DOCKER_OUT):/gridq/out $(IMAGE) sh -c "gridq generate pv_battery_tou --out out/pv_battery_tou && gridq backtest out/pv_battery_tou"

lock:
	$(PYTHON) -m venv /tmp/gridq-lock-venv
	/tmp/gridq-lock-venv/bin/pip install --quiet pip-tools
	/tmp/gridq-lock-venv/bin/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) bundles .pytest_cache .mypy_cache .ruff_cache
