# Two commands for a new user: `make demo` and `make test`. Both create .venv when absent and
# install the project into it (torch, timm and the rest come from the package registries).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLE ?= sample_checkpoints/fashion_mnist_mlp

.PHONY: install demo test samples clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,plot]'
	touch $@

install: $(VENV)/.installed

# The main job on a shipped sample run: its probe.safetensors travels with it, so no dataset is needed.
demo: $(VENV)/.installed
	$(VENV)/bin/entk-probe analyze $(SAMPLE) --plugins plugins/mlp.py --plot demo.png

test: $(VENV)/.installed
	$(PY) -m pytest

# Regenerate sample_checkpoints/ (needs ../shared/data and Debian's dataset-fashion-mnist).
samples: $(VENV)/.installed
	$(PY) sample_checkpoints/make_samples.py

clean:
	rm -rf $(VENV) .pytest_cache demo.png
