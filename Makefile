# PipeWorks Axis developer commands. `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pipeworks
HOST ?= 127.0.0.1:8000
# Without DEBUG=1 the settings refuse to start with no real SECRET_KEY. The tests and the
# checks run with DEBUG off, as production does, so they get this public test-only key
# unless the environment has one. Never use it for a server anyone else can reach.
export SECRET_KEY ?= pipeworks-test-only-not-a-secret-5f0c9a7e2b41d8c3e6a9f1b7d2c4e8a0

.PHONY: install serve test test-sqlite test-postgres lint check bench lock clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

## serve: migrate the SQLite default, sync policies, load demo data, run on $(HOST)
serve: install
	DEBUG=1 $(PY) manage.py migrate --no-input
	DEBUG=1 $(PY) manage.py sync_policies
	DEBUG=1 $(PY) manage.py load_demo
	@echo "Inspector: http://$(HOST)/admin/ (log in with the staff login above)"
	DEBUG=1 $(PY) manage.py runserver $(HOST)

## test: the whole suite on SQLite, then on PostgreSQL when reachable
## (REQUIRE_POSTGRES=1 makes an unreachable PostgreSQL a failure)
test: install test-sqlite test-postgres

test-sqlite: install
	DATABASE_URL=sqlite:///db-test.sqlite3 $(PY) -m pytest $(PYTEST_ARGS)

test-postgres: install
	@if $(PY) -c "import psycopg, sys; psycopg.connect(sys.argv[1].rsplit('/', 1)[0] + '/postgres', connect_timeout=3).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "PostgreSQL reachable: running the suite on $(TEST_DATABASE_URL)"; \
		DATABASE_URL="$(TEST_DATABASE_URL)" $(PY) -m pytest $(PYTEST_ARGS); \
	elif [ "$(REQUIRE_POSTGRES)" = "1" ]; then \
		echo "FAIL: PostgreSQL at $(TEST_DATABASE_URL) is not reachable and REQUIRE_POSTGRES=1"; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL run: $(TEST_DATABASE_URL) is not reachable (REQUIRE_POSTGRES=1 makes this a failure)"; \
	fi

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

## bench: writes, the write path against two raw-SQL floors, reads and maintenance on a growing
## ledger, policy sync, drift (SQLite and PostgreSQL),
## concurrent HTTP writers and the capacity model (PostgreSQL); figures in bench/results.md.
## BENCH_ARGS=--quick: a smoke run
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

## lock: re-pin requirements.lock from the dependencies in pyproject.toml
lock:
	rm -rf /tmp/pipeworks-lock && $(PYTHON) -m venv /tmp/pipeworks-lock
	/tmp/pipeworks-lock/bin/pip install --quiet $$($(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(' '.join(repr(d) for d in p['dependencies'] + p['optional-dependencies']['dev']))")
	( echo "# Pinned versions of every runtime and dev dependency in pyproject.toml (regenerate: make lock)."; /tmp/pipeworks-lock/bin/pip freeze ) > requirements.lock

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* db-test.sqlite3*
