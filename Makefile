# The two commands of the quick start: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Tests run on the real services; override for another host.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tracker
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_REDIS_CACHE_URL ?= redis://127.0.0.1:6379/14
PYTEST_WORKERS ?= 2

.PHONY: demo test serve worker beat lint install migrate clean bench

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $$(scripts/find-python) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$*]"
	touch $@

$(VENV)/.installed-base: pyproject.toml
	test -x $(PY) || $$(scripts/find-python) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# LDAP sign-on (the `ldap` extra) needs python-ldap, which builds against the libldap and
# libsasl headers: `make test` installs it where they are (CI installs them), and otherwise
# says so and skips tests/sso/test_ldap.py rather than fail to install.
$(VENV)/.installed-ldap: pyproject.toml $(VENV)/.installed-test
	@if [ -f /usr/include/ldap.h ] && [ -f /usr/include/sasl/sasl.h ]; then \
	    $(PY) -m pip install --quiet -e ".[ldap]" && touch $@; \
	else \
	    echo "LDAP sign-on tests will be skipped: apt-get install libldap2-dev libsasl2-dev" \
	        "slapd ldap-utils to run them"; \
	fi

install: $(VENV)/.installed-base

migrate: install
	$(PY) manage.py migrate --noinput

# Serves the demo with a Celery worker and its scheduler beside it; Ctrl-C stops all three.
# With nothing configured it runs on SQLite under var/ and Celery's filesystem broker.
# Debug is off unless asked for (tracker/settings.py): the demo turns it on for every process
# it starts, its prerequisites' (migrate) included. Another manage.py command against the
# demo: `DJANGO_DEBUG=true .venv/bin/python manage.py <command>`.
demo: export DJANGO_DEBUG := true
demo: migrate
	$(PY) manage.py load_demo
	$(PY) manage.py send_reminders  # the first sweep now: the demo opens with its reminders
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@trap 'kill 0' EXIT INT TERM; \
	$(VENV)/bin/celery -A tracker worker --beat --loglevel INFO --concurrency 1 \
	    --schedule var/celerybeat-schedule & \
	echo "Serving on http://127.0.0.1:$(PORT)/  (accounts: see README, password jincheng-demo)"; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT) --noreload

# PostgreSQL and Redis: the servers answering at these addresses (CI's, your own), else
# throwaway ones that scripts/test-services starts on free ports and removes afterwards.
test: $(VENV)/.installed-test $(VENV)/.installed-ldap
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	REDIS_CACHE_URL=$${REDIS_CACHE_URL:-$(TEST_REDIS_CACHE_URL)} DJANGO_DEBUG=true \
	scripts/test-services run \
	    $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --create-db $(PYTEST_ARGS)

# Production server: settings come from the environment (DJANGO_DEBUG is off unless set).
serve: install
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/gunicorn tracker.wsgi \
	    --bind 0.0.0.0:$(PORT) --workers $${WEB_CONCURRENCY:-3} --access-logfile -

worker: install
	$(VENV)/bin/celery -A tracker worker --loglevel INFO

beat: install
	$(VENV)/bin/celery -A tracker beat --loglevel INFO --schedule var/celerybeat-schedule

lint: $(VENV)/.installed-lint $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# Benchmark at scale (bench/run.py): generates CASES cases (and 10,000 to compare), serves
# them with `make serve` and measures from outside, its load phase with Locust (the `bench`
# extra); prints a table, writes bench/results.json.
# It DROPS and recreates the database named in DATABASE_URL (the name must contain "bench")
# and the same name with a "10k" suffix. `make bench CASES=200000` for a smaller run;
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--load-seconds 10 --only stats,load".
CASES ?= 1000000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tracker_bench
bench: $(VENV)/.installed-bench
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_DATABASE_URL)} $(PY) bench/run.py --cases $(CASES) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/ staticfiles/
