# The commands people type. `make run` serves the app; `make check` is the inner loop (lint and every test that
# needs no browser and no server process, under 2 minutes on 2 cores); `make test` runs the whole suite
# (browser tests included), before submitting.
# Both set themselves up on a fresh Debian machine: missing system packages are installed when run as root
# with apt-get, or named in one line with the command to run (.ci/ensure-system-packages).
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
HOST ?= 127.0.0.1
# What the browser tests need from the system (see .ci/ensure-system-packages for what each is for).
TEST_PACKAGES := chromium fonts-noto-core nginx-light
# Two workers: the suite is mostly waiting on Streamlit servers and AppTest reruns.
PYTEST_ARGS ?= -n 2
# make check leaves out what starts a process or a browser, and the long PEFT-parity and trace checks (pyproject.toml
# markers); make test runs them all.
CHECK_MARKERS ?= not slow and not server and not browser
STUDENTS ?= 30

.PHONY: run check test lint fmt bench load clean system-packages

$(PY):
	@.ci/ensure-system-packages python3-venv
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.app-installed: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.app-installed $@

# lora_ui/serve.py: `streamlit run app.py`, warmed up before the server starts (health "ok" means warm).
run: $(VENV)/.app-installed
	$(PY) -m lora_ui.serve --server.port $(PORT) --server.address $(HOST)

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .

# Its page tests run fits, replays and traces in threads (lora_ui/workers/fit.py LORA_LAB_FIT_PROCESSES,
# lora_ui/workers/replay.py LORA_LAB_REPLAY_PROCESSES, lora_ui/workers/trace.py LORA_LAB_TRACE_PROCESSES): no
# worker process.
check: $(VENV)/.dev-installed lint
	LORA_LAB_FIT_PROCESSES=0 LORA_LAB_REPLAY_PROCESSES=0 LORA_LAB_TRACE_PROCESSES=0 $(PY) -m pytest $(PYTEST_ARGS) -m "$(CHECK_MARKERS)"

# system-packages comes first: on a machine that lacks them, make test stops before it builds anything.
system-packages:
	@.ci/ensure-system-packages $(TEST_PACKAGES)

test: system-packages $(VENV)/.dev-installed lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed
	$(PY) benchmarks/fit_speed.py

# A class arriving together (issue 12; docs/load.md): 30 students on a just-started server (`make run`'s
# command, the clock from health ok), then 60 on 2 replicas behind nginx, each next to a one-slider app.
# Writes docs/load.md's table and the README's summary. ~10 min; STUDENTS=10,20,30 adds rows (~5 min each).
load: $(VENV)/.dev-installed
	$(PY) benchmarks/load_test.py --students $(STUDENTS) --replicas-row --out docs/load.md --readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
