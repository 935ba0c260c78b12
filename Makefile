# Two commands for a new user: `make demo` and `make test`. Both create .venv when absent and
# install the project into it (torch, timm and the rest come from the package registries).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_RUN ?= demo-run

.PHONY: install demo test clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,plot]'
	touch $@

install: $(VENV)/.installed

$(DEMO_RUN)/.complete: $(VENV)/.installed sample_checkpoints/make_demo_run.py
	$(PY) sample_checkpoints/make_demo_run.py $(DEMO_RUN)
	touch $@

demo: $(DEMO_RUN)/.complete
	$(VENV)/bin/entk-probe analyze $(DEMO_RUN) --probe synthetic:48

test: $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) $(DEMO_RUN) .pytest_cache
