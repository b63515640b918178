# The LoRA specialist workbench. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NAME ?=
DB ?=
OPENCODE_STORAGE ?=
CLAUDE_DIR ?=
CODEX_DIR ?=
SWE_DIR ?=
SWE_REPORTS ?=
RESOLVED_ONLY ?=
DATA ?=
CONFIG ?=
ARGS ?=
RESUME ?=
DRY_RUN ?=
MERGED ?=
FORCE ?=
LAUNCH ?=
GPUS ?=
N ?=
INDEX ?= 0
SPLIT ?= train
A ?=
B ?=
PRETRAIN_STEPS ?= 100

overlay := $(if $(CONFIG),--overlay $(CONFIG))
# train and eval read the datasets where extract wrote them
data := $(if $(DATA),paths.data=$(DATA))
DEMO := --overlay configs/demo.yaml
# LAUNCH=ddp|fsdp|zero2|zero3 (configs/accelerate/<name>.yaml) or LAUNCH=path.yaml runs training under
# `accelerate launch` with GPUS processes (default: one per visible GPU).
accel_file = $(if $(filter %.yaml %.yml,$(LAUNCH)),$(LAUNCH),configs/accelerate/$(LAUNCH).yaml)
gpus = $(or $(GPUS),$(shell $(PY) -c 'import torch; print(max(torch.cuda.device_count(), 1))'))
train_cmd = $(if $(LAUNCH),$(VENV)/bin/accelerate launch --config_file $(accel_file) --num_processes $(gpus) -m train,$(PY) -m train)
check_launch = $(if $(LAUNCH),@test -f $(accel_file) || { echo "LAUNCH=$(LAUNCH): no $(accel_file) (ddp, fsdp, zero2, zero3 or a .yaml path)"; exit 2; })
export TOKENIZERS_PARALLELISM := false

.PHONY: help setup extract data-report analyze show compare export-jsonl train train-all inspect eval eval-all export export-all demo test clean-demo

help:
	@echo "make setup                      create .venv (torch pinned to the CPU build) and install the project"
	@echo "make extract [DB=...] [CLAUDE_DIR=...] [CODEX_DIR=...] [SWE_DIR=... SWE_REPORTS=... RESOLVED_ONLY=1] [OPENCODE_STORAGE=...] [DATA=...]"
	@echo "                                 agent logs -> data/<specialist>/ (no source named: every default location)"
	@echo "make data-report                 counts, lengths, tools, outcomes, plots -> reports/data/"
	@echo "make analyze | show NAME=serpent [INDEX=0] [SPLIT=test] | compare A=data-old B=data | export-jsonl NAME=serpent"
	@echo "                                 the data tools (python -m extract analyze|show|compare|export-jsonl)"
	@echo "make train NAME=serpent [ARGS='learning_rate=1e-4'] [RESUME=1] [DRY_RUN=1]"
	@echo "make train NAME=serpent LAUNCH=ddp|fsdp|zero2|zero3 [GPUS=N]   several GPUs, accelerate launch"
	@echo "make inspect NAME=serpent [N=3]   N training windows, trained tokens in colour, and the trained share"
	@echo "make eval NAME=serpent          held-out loss of base vs adapter -> reports/serpent/"
	@echo "make export NAME=serpent [MERGED=1] [FORCE=1]   -> exports/serpent/"
	@echo "make train-all | eval-all | export-all"
	@echo "make demo                       the whole flow on a bundled sample store and a tiny offline model"
	@echo "make test                       the test suite, end-to-end flow included (ARGS='-m \"not slow\"' skips it)"
	@echo "CONFIG=configs/tiny.yaml applies an overlay to any target; ARGS='k=v ...' adds config overrides to any"
	@echo "target (make test: pytest's arguments)."

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

sources := $(if $(DB),--db $(DB)) $(if $(OPENCODE_STORAGE),--opencode-storage $(OPENCODE_STORAGE)) \
	$(if $(CLAUDE_DIR),--claude-dir $(CLAUDE_DIR)) $(if $(CODEX_DIR),--codex-dir $(CODEX_DIR)) \
	$(if $(SWE_DIR),--swe-dir $(SWE_DIR)) $(if $(SWE_REPORTS),--swe-reports $(SWE_REPORTS)) \
	$(if $(RESOLVED_ONLY),--resolved-only)

extract: $(STAMP)
	$(PY) -m extract $(sources) $(if $(DATA),--out $(DATA)) $(overlay) $(ARGS)

data_dir := $(if $(DATA),--data $(DATA))

data-report: $(STAMP)
	$(PY) -m extract analyze $(data_dir) $(overlay) $(ARGS)
	$(PY) -m extract report $(data_dir) $(overlay) $(ARGS)

analyze: $(STAMP)
	$(PY) -m extract analyze $(data_dir) $(overlay) $(ARGS)

show: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make show NAME=<specialist> [INDEX=0] [SPLIT=train|test]"; exit 2; }
	$(PY) -m extract show $(NAME) $(INDEX) --split $(SPLIT) $(data_dir) $(overlay) $(ARGS)

compare: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<datasets folder> B=<datasets folder>"; exit 2; }
	$(PY) -m extract compare $(A) $(B) $(overlay) $(ARGS)

export-jsonl: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make export-jsonl NAME=<specialist>"; exit 2; }
	$(PY) -m extract export-jsonl $(NAME) $(data_dir) $(overlay) $(ARGS)

train: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make train NAME=<specialist>"; exit 2; }
	$(check_launch)
	$(train_cmd) $(NAME) $(overlay) $(if $(RESUME),--resume) $(if $(DRY_RUN),--dry-run) $(data) $(ARGS)

train-all: $(STAMP)
	$(check_launch)
	$(train_cmd) --all $(overlay) $(if $(RESUME),--resume) $(data) $(ARGS)

inspect: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make inspect NAME=<specialist> [N=3]"; exit 2; }
	$(PY) -m train $(NAME) --inspect $(N) $(overlay) $(data) $(ARGS)

eval: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make eval NAME=<specialist>"; exit 2; }
	$(PY) -m eval $(NAME) $(overlay) $(data) $(ARGS)

eval-all: $(STAMP)
	$(PY) -m eval --all $(overlay) $(data) $(ARGS)

export: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make export NAME=<specialist>"; exit 2; }
	$(PY) -m export $(NAME) $(overlay) $(if $(MERGED),--merged) $(if $(FORCE),--force) $(ARGS)

export-all: $(STAMP)
	$(PY) -m export --all $(overlay) $(if $(MERGED),--merged) $(if $(FORCE),--force) $(ARGS)

# The whole flow, offline: sample opencode store -> tiny base -> datasets -> 5 adapters -> eval -> export.
demo: export HF_HUB_OFFLINE := 1
demo: $(STAMP)
	@echo "== 1/6 sample opencode stores: the user's, and other sessions for the tiny base to learn from"
	$(PY) -m sample.store --out demo/store/opencode.db --sessions-per-language 12
	$(PY) -m sample.store --out demo/pretrain/opencode.db --seed 1 --sessions-per-language 12
	@echo "== 2/6 tiny base model and tokenizer, built offline and pretrained on the other sessions"
	$(PY) -m sample.tiny_model --store demo/pretrain/opencode.db --out demo/base --hidden-size 128 --vocab-size 4096 \
		--pretrain-steps $(PRETRAIN_STEPS)
	@echo "== 3/6 extract (windows measured with the tiny tokenizer)"
	$(PY) -m extract --db demo/store/opencode.db $(DEMO) --quiet $(ARGS)
	@echo "== 4/6 train"
	$(PY) -m train --all $(DEMO) $(ARGS)
	@echo "== 5/6 eval"
	$(PY) -m eval --all $(DEMO) $(ARGS)
	@echo "== 6/6 export"
	$(PY) -m export --all $(DEMO) --force $(ARGS)
	@echo
	$(PY) -m eval --summary $(DEMO) $(ARGS)

test: export HF_HUB_OFFLINE := 1
test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

clean-demo:
	rm -rf demo
