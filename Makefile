# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ADDR ?= 127.0.0.1:8000
# Folders to ingest instead of the shipped samples, e.g.
#   make demo CORPUS_HR=../shared/corpus/contoso
CORPUS_HR ?=
CORPUS_SUPPORT ?=
CORPUS_FINANCE ?=

.PHONY: install demo test lint format bench worker clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) manage.py demo --addr $(ADDR) --hr "$(CORPUS_HR)" --support "$(CORPUS_SUPPORT)" --finance "$(CORPUS_FINANCE)"

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy portal tenants rag chat llm pricing audit dify

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/retrieval_quality.py

# A Celery worker for deployments with REDIS_URL set.
worker: install
	$(VENV)/bin/celery -A portal worker --loglevel INFO

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
