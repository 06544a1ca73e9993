# Créneau: `make test` and `make run` work on a fresh machine with only Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
# The second test pass runs on this server when it answers (a throwaway database per run).
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PG_ANSWERS = $(BIN)/python -c "import sys, psycopg; from sqlalchemy.engine import make_url; \
	u = make_url(sys.argv[1]); psycopg.connect(host=u.host, port=u.port or 5432, \
	user=u.username, password=u.password, dbname=u.database, connect_timeout=3).close()" \
	'$(TEST_PG_URL)' 2>/dev/null
MO := $(PO:.po=.mo)
# The desk's browser tests drive Debian's Chromium; without it they are skipped (say so).
CHROMIUM ?= /usr/bin/chromium
BROWSER_NOTE = if [ ! -x $(CHROMIUM) ]; then echo "Browser tests (tests/test_desk_browser.py) \
	will be SKIPPED: no Chromium at $(CHROMIUM) (as root: apt-get install chromium; \
	.ci/run installs it and makes them mandatory)"; fi

.PHONY: help install test test-sqlite test-postgres run chat lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -D messages -i $< -o $@ >/dev/null

install: $(STAMP) $(MO) ## create the virtualenv, install, compile the catalogs

test: install ## lint, type-check bot/ and store/, run the tests (SQLite, then PostgreSQL when one answers)
	$(BIN)/ruff check bot channels store tests bench
	$(BIN)/ruff format --check --quiet bot channels store tests bench
	$(BIN)/mypy bot store
	@$(BROWSER_NOTE)
	$(BIN)/pytest
	@if $(PG_ANSWERS); then $(MAKE) --no-print-directory test-postgres; \
	else echo "PostgreSQL does not answer at $(TEST_PG_URL): second pass skipped"; fi

test-sqlite: install ## run the tests on SQLite only
	@$(BROWSER_NOTE)
	$(BIN)/pytest

test-postgres: install ## run the tests on PostgreSQL (TEST_PG_URL), incl. the multi-process race
	CRENEAU_TEST_DATABASE_URL='$(TEST_PG_URL)' $(BIN)/pytest

run: install ## start the service (web, outbound worker, scheduler)
	$(BIN)/creneau serve

chat: install ## talk to the bot as a patient in this terminal
	$(BIN)/creneau chat

lint: install ## ruff lint and format check, mypy on bot/ and store/
	$(BIN)/ruff check bot channels store tests bench
	$(BIN)/ruff format --check bot channels store tests bench
	$(BIN)/mypy bot store

format: install ## format the code
	$(BIN)/ruff format bot channels store tests bench
	$(BIN)/ruff check --fix bot channels store tests bench

bench: install ## run the benchmarks and print their figures (turn cost against its floor first)
	$(BIN)/python -m bench.turn_cost --url '$(TEST_PG_URL)'
	$(BIN)/python -m bench.slots
	$(BIN)/python -m bench.sms_webhook
	$(BIN)/python -m bench.telegram
	$(BIN)/python -m bench.summaries
	@if $(PG_ANSWERS); then \
		$(BIN)/python -m bench.slots --url '$(TEST_PG_URL)' && \
		$(BIN)/python -m bench.summaries --url '$(TEST_PG_URL)' && \
		$(BIN)/python bench/booking_pg.py --url '$(TEST_PG_URL)'; fi

clean: ## remove the virtualenv and compiled catalogs (keeps var/)
	rm -rf $(VENV) $(MO)
