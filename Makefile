# One entry point for every routine task. `make test` and `make local` create .venv on first use.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The first Python 3.12 found: on PATH, or installed with pyenv.
PYTHON ?= $(shell for p in python3.12 python3 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12); do \
	if $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then echo $$p; break; fi; done)
export SAM_CLI_TELEMETRY = 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: venv lock test local build validate lint bench clean

# requirements.lock pins the whole environment, transitive packages and pip included: a fresh machine
# installs exactly what CI tested. `make lock` makes it anew from pyproject.toml and the layers' pins.
LOCK := requirements.lock

$(BIN)/.installed: pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "Python 3.12 is needed (python3.12 on PATH, or PYTHON=/path/to/python3.12)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep '^pip==' $(LOCK))"
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/.installed

# The layers' pins are constraints: the environment the tests run in is the one the layers ship.
lock: venv ## pin the whole environment anew (requirements.lock)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 --no-emit-index-url \
		$(foreach f,$(wildcard shared/requirements*.txt),-c $(f)) -o $(LOCK)

test: venv ## run the test suite (DATABASE_URL unset: an embedded PostgreSQL)
	$(BIN)/pytest

# `make local PORT=3100` serves on another port (3000 is the one `sam local start-api` uses).
PORT ?= 3000
local: venv ## serve the HTTP API on http://127.0.0.1:$(PORT) (DATABASE_URL unset: an embedded PostgreSQL)
	$(BIN)/python -m infra.local_api --port $(PORT)

validate: venv ## lint the SAM template
	$(BIN)/sam validate --lint

# checkov pins a boto3 far older than the layer's, so it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30

lint: venv $(CHECKOV) ## cfn-lint and checkov on template.yaml and on its SAM translation (0 findings; skips carry reasons)
	$(BIN)/python -m infra.translate_template .lint/translated.json
	$(BIN)/cfn-lint template.yaml .lint/translated.json
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f .lint/translated.json

build: venv ## build the functions and the layer for deployment, without Docker
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

bench: venv ## cold-start and latency figures
	$(BIN)/python -m bench.run

clean:
	rm -rf .aws-sam .local .lint $(VENV) $(CHECKOV_VENV)
