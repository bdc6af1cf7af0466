# Two commands on a fresh machine: `make course` opens the course, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup course test test-course bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

course: setup
	$(BIN)/jupyter lab --notebook-dir=course

test: setup
	$(BIN)/pytest
	$(MAKE) test-course

# Every course notebook runs top to bottom (its assert cells are the tests), on the process runtime
# always and on docker when a daemon answers; CI (CI=true) must have Docker.
NBVAL := $(BIN)/pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=120 -p no:python -q course
test-course: setup
	LABKIT_RUNTIME=process $(NBVAL)
	@if $(BIN)/python -c 'import sys; from labkit.cluster import docker_available; sys.exit(not docker_available())'; then \
		echo "LABKIT_RUNTIME=docker $(NBVAL)"; LABKIT_RUNTIME=docker $(NBVAL); \
	elif [ "$$CI" = "true" ]; then \
		echo "CI must have a Docker daemon: the course runs on the docker runtime too" >&2; exit 1; \
	else \
		echo "no Docker daemon here: the course ran on the process runtime only"; \
	fi

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
