# Créneau: `make test` and `make run` work on a fresh machine with only Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

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

test: install ## run the tests (SQLite, plus PostgreSQL when one answers)
	$(BIN)/ruff check bot channels store tests bench
	$(BIN)/pytest

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

bench: install ## run the benchmarks and print their figures
	$(BIN)/python bench/slots.py

clean: ## remove the virtualenv and compiled catalogs (keeps var/)
	rm -rf $(VENV) $(MO)
