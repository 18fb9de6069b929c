# Two commands do everything on a fresh machine:
#   make lab    set up .venv (first time only) and open the course in JupyterLab
#   make test   set up .venv (first time only) and run lint + the whole test suite
#   make test-ui  only the browser tests: every notebook run in JupyterLab in headless
#               Chromium (screenshots in screenshots/ui/)
# Both test targets first find a Chromium or Chrome, or install one (Debian's chromium via
# apt as root or with password-less sudo, else Playwright's download): tests/ui/browser.py.
#
# Variables (override on the command line or in the environment):
#   PYTHON   interpreter that creates the venv (>= 3.10)         default: python3
#   TORCH    pip requirement for PyTorch, installed first        default: torch
#            e.g. TORCH="torch==2.13.0"; CI sets its own.
#   TORCH_INDEX  package index for PyTorch only, e.g. https://download.pytorch.org/whl/cpu
#            for a CPU-only build on Linux (saves several GB)          default: PyPI
#   PORT     JupyterLab port (make lab)                          default: 8888
#   R1LAB_PROFILE  smoke | lesson | full (make lab)              default: lesson
#   LAB_ARGS extra arguments for jupyter lab (e.g. --no-browser)
#   PYTEST_ARGS extra arguments for pytest (e.g. -k tokenizer)
#   CHROMIUM_BIN  the Chromium or Chrome binary for the UI tests    default: found or installed

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch
TORCH_INDEX ?=
PORT ?= 8888
R1LAB_PROFILE ?= lesson
LAB_ARGS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
# JupyterLab defaults for this venv: no news feed, no update check (no network needed).
LAB_OVERRIDES := {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
STAMP := $(VENV)/.r1lab-installed

.PHONY: setup lab test test-ui lint format notebooks slides benchmarks clean

setup: $(STAMP)

# Re-run the install whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "r1lab needs Python >= 3.10, found " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '$(LAB_OVERRIDES)' > $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)
	@echo "r1lab environment ready in $(VENV)"

# No news feed and no update check: the course needs no network once installed.
lab: $(STAMP)
	R1LAB_PROFILE=$(R1LAB_PROFILE) $(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) \
		--ServerApp.root_dir="$(CURDIR)" --LabApp.news_url=None \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		$(ALLOW_ROOT) $(LAB_ARGS) notebooks/00_tour.ipynb

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(BIN)/python -m tests.ui.browser
	R1LAB_PROFILE=smoke HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# Also part of `make test` (tests/ui is under testpaths).
test-ui: $(STAMP)
	@$(BIN)/python -m tests.ui.browser
	R1LAB_PROFILE=smoke HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest tests/ui $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-execute every notebook in the lesson profile and save its outputs (what is committed).
notebooks: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/r1lab notebooks --profile lesson --save

# reveal.js slides of every notebook, English and Chinese, with their committed outputs
# (slides/NN_topic.slides.html, slides/zh/...); open one in a browser.
slides: $(STAMP)
	$(BIN)/r1lab slides

benchmarks: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/sampling.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/checkpoints.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/grpo_speed.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/search_world.py
	$(BIN)/python benchmarks/search_quality.py data/runs/emergence-search/sft-seed0 \
		data/runs/emergence-search/sft-seed1 data/runs/emergence-search/sft-seed2
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/rewards.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/notebooks.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info screenshots slides
