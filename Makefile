# The README's two commands, `make run` and `make test`, each do every set-up step:
# a virtualenv with the package installed, front-end packages from the npm registry,
# and (for run) the database migrated.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PYTEST := $(BIN)/python -m pytest
HTMX := static/vendor/htmx.min.js
PEER_VENV := bench/.peer-venv

.PHONY: run serve test reliability bench bench-peer screenshots setup clean

comma := ,
# Where `make run` (default 127.0.0.1:5000) and `make serve` (default FLAGPAL_BIND, else
# 127.0.0.1:8000) listen: `make run HOST=0.0.0.0 PORT=5123`, `make serve PORT=9000`.
# HOST only from the command line: some shells export HOST as the machine's name, and
# listening on it would put the development server on the network.
ifneq ($(origin HOST),command line)
HOST := 127.0.0.1
endif
# (An IPv6 address goes in brackets.)
HOST_AND := $(if $(findstring :,$(HOST)),[$(HOST)],$(HOST)):
RUN_BIND := $(HOST_AND)$(or $(PORT),5000)
SERVE_BIND := $(if $(filter command line,$(origin HOST) $(origin PORT)),$(HOST_AND)$(or $(PORT),8000),$(or $(FLAGPAL_BIND),$(HOST_AND)$(or $(PORT),8000)))
# The address served, for the links the app prints, logs and mails (when
# FLAGPAL_PUBLIC_URL is not set): the first of the bind's, unless a Unix socket.
served_at = $(if $(filter unix:% fd:%,$(firstword $(subst $(comma), ,$(1)))),,http://$(firstword $(subst $(comma), ,$(1))))

run: setup
	$(FLASK) db upgrade
	@FLAGPAL_SERVED_AT="$(call served_at,$(RUN_BIND))" $(FLASK) setup-link
	FLAGPAL_SERVED_AT="$(call served_at,$(RUN_BIND))" $(FLASK) run --host "$(HOST)" --port "$(or $(PORT),5000)"

# Production serving: gunicorn with flagpal_dash/gunicorn_conf.py (listening on
# SERVE_BIND; workers from the CPU count), after migrating the database.
serve: setup
	$(FLASK) db upgrade
	@FLAGPAL_SERVED_AT="$(call served_at,$(SERVE_BIND))" $(FLASK) setup-link
	FLAGPAL_BIND="$(SERVE_BIND)" $(BIN)/gunicorn -c python:flagpal_dash.gunicorn_conf wsgi:app

# Lint, every test on SQLite, then again on PostgreSQL when FLAGPAL_TEST_DATABASE_URL is set.
test: setup
	$(BIN)/ruff check flagpal_dash tests wsgi.py
	env -u FLAGPAL_TEST_DATABASE_URL $(PYTEST) $(PYTEST_ARGS)
	@if [ -n "$$FLAGPAL_TEST_DATABASE_URL" ]; then \
		echo "== again on $$FLAGPAL_TEST_DATABASE_URL"; \
		$(PYTEST) $(PYTEST_ARGS); \
	fi

# The reliability suite (tests/reliability: fuzzing, concurrency, faults, secret hygiene)
# at a larger size than `make test`, on SQLite and then on PostgreSQL when
# FLAGPAL_TEST_DATABASE_URL is set, and one table of its figures.
reliability: setup
	@figures=$$(mktemp); \
	env -u FLAGPAL_TEST_DATABASE_URL FLAGPAL_RELIABILITY=large FLAGPAL_RELIABILITY_FIGURES=$$figures \
		$(PYTEST) tests/reliability $(PYTEST_ARGS); status=$$?; \
	if [ -n "$$FLAGPAL_TEST_DATABASE_URL" ]; then \
		FLAGPAL_RELIABILITY=large FLAGPAL_RELIABILITY_FIGURES=$$figures \
			$(PYTEST) tests/reliability $(PYTEST_ARGS) || status=1; \
	fi; \
	echo; echo "== reliability figures (SQLite$${FLAGPAL_TEST_DATABASE_URL:+ and PostgreSQL})"; \
	$(BIN)/python -m tests.reliability $$figures; rm -f $$figures; exit $$status

# Figures for the token check (needs wrk: apt-get install wrk), the same beside a Django
# REST framework peer (bench/peer, in its own virtualenv), then for the API Tokens page
# of a project with 10,000 tokens; not part of `make test`.
bench: setup bench-peer
	$(BIN)/python bench/token_check.py $(BENCH_ARGS)
	$(BIN)/python bench/peer_compare.py $(BENCH_ARGS)
	$(BIN)/python bench/token_list.py

# The peer's own virtualenv, from PyPI at the versions bench/peer/requirements.txt pins.
bench-peer: $(PEER_VENV)/.installed

$(PEER_VENV)/.installed: bench/peer/requirements.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/peer/requirements.txt
	touch $@

# The README's pictures: every main state at 1280 and 390 px, into docs/screenshots/.
screenshots: setup
	$(BIN)/python -m tests.browser.screenshots

setup: $(VENV)/.installed $(HTMX)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Third-party front-end code comes from the npm registry, pinned by package-lock.json,
# and is served from static/vendor/ (git-ignored).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

$(HTMX): node_modules/.package-lock.json
	mkdir -p $(@D)
	cp node_modules/htmx.org/dist/htmx.min.js $@

clean:
	rm -rf $(VENV) $(PEER_VENV) node_modules static/vendor
