# The two commands of the README: `make run` runs the bot, `make test` runs the tests.
PYTHON ?= python3
HOST ?= 0.0.0.0
PORT ?= 3000
MODE ?= http

.PHONY: run test install

.venv/bin/vigie: pyproject.toml
	$(PYTHON) -m venv .venv
	.venv/bin/python -m pip install --quiet --upgrade pip
	.venv/bin/python -m pip install --quiet -e '.[suggestions]'
	touch $@

install: .venv/bin/vigie

# Install if needed, then one process applies migrations and serves:
# MODE=http (vigie serve) or MODE=socket (vigie run). With no Slack setting at all it
# starts the sandbox instead (`vigie demo`: a local workspace in the browser).
run: .venv/bin/vigie
ifeq ($(MODE),socket)
	.venv/bin/vigie run --migrate --demo-without-slack --host $(HOST) --http-port $(PORT)
else
	.venv/bin/vigie serve --migrate --demo-without-slack --host $(HOST) --port $(PORT)
endif

test:
	.ci/run
