# pinsync: every target sets up what it needs. The two you want:
#   make demo   run the whole pipeline locally (moto server + Pinterest emulator + SQS poller)
#   make test   lint, types, template checks and the whole test suite (what CI runs)
# While you work: make unit (the pure tests, seconds), make fmt (format and fix lint), make hooks (pre-commit).
# Dependencies are installed from lock files with hashes (*.txt); edit the *.in files, then `make lock`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= $(shell scripts/find-python.sh 3.12)
VENV := .venv
SAM_VENV := .venv-sam
TOOLS_VENV := .venv-tools
LOCK_VENV := .venv-lock
UV_VERSION := 0.13.9
BIN := $(VENV)/bin
PIP_LOCKED := pip install --quiet --require-hashes
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: demo test unit fmt hooks lock lint typecheck template sam-build pytest local clean security bench

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (see scripts/find-python.sh)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m $(PIP_LOCKED) -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m $(PIP_LOCKED) -r requirements-sam.txt
	touch $@

# Security scanners pin dependencies that conflict with ours (checkov: boto3, pydantic...): their own virtualenv.
$(TOOLS_VENV)/.installed: requirements-tools.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (see scripts/find-python.sh)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m $(PIP_LOCKED) -r requirements-tools.txt
	touch $@

$(LOCK_VENV)/.installed:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	touch $@

# Resolve the *.in files into the lock files (every package pinned, with the hashes of all its files, for every
# platform: the layer is built for Lambda's arm64). Existing pins are kept unless an *.in file asks otherwise.
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version 3.12 --generate-hashes --no-header
lock: $(LOCK_VENV)/.installed
	$(UV_COMPILE) --output-file layers/common/requirements.txt layers/common/requirements.in
	$(UV_COMPILE) -c layers/common/requirements.txt --output-file requirements-dev.txt requirements-dev.in
	$(UV_COMPILE) --output-file requirements-sam.txt requirements-sam.in
	$(UV_COMPILE) --output-file requirements-tools.txt requirements-tools.in

demo: $(VENV)/.installed
	$(BIN)/pinsync local demo

local: $(VENV)/.installed
	$(BIN)/pinsync local up

test: lint typecheck template security pytest

# The pure tests (no moto, no emulator, no network): seconds.
unit: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests/unit

fmt: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

hooks: $(VENV)/.installed
	$(BIN)/pre-commit install

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy layers/common/pinsync layers/common/layer_requirements.py scripts/check_layer.py functions tools bench tests

template: $(VENV)/.installed $(SAM_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint
	$(MAKE) sam-build

# sam build without Docker needs the runtime's exact Python on PATH.
sam-build: $(SAM_VENV)/.installed
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM_VENV)/bin/sam build --build-dir .aws-sam/build
	$(PYTHON) scripts/check_layer.py .aws-sam/build/CommonLayer

pytest: $(VENV)/.installed
	$(BIN)/python -m pytest

# Static security checks: checkov on the template as written and after the SAM transform (suppressions, each with
# its reason, in tests/security/checkov_suppressions.yaml), bandit on the Python, pip-audit on the pinned
# requirements. The no-leak test of the whole demo runs with the test suite (tests/security/).
security: $(VENV)/.installed $(TOOLS_VENV)/.installed
	$(BIN)/python tests/security/checkov_scan.py --checkov $(TOOLS_VENV)/bin/checkov
	$(TOOLS_VENV)/bin/bandit -q -c tests/security/bandit.yaml -r layers functions tools
	$(TOOLS_VENV)/bin/python tests/security/dependency_audit.py -r layers/common/requirements.txt -r requirements-dev.txt

# Benchmarks: scripts that print figures (not timed tests); one table at the end, figures in BENCHMARKS.md.
bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache .hypothesis $(LOCK_VENV)
