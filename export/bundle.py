"""`python -m export NAME [NAME ...]`: turn trained adapters into what people serve (exports/<name>/).

    python -m export serpent              # adapter/ + adapter.gguf + model card + serving recipes + manifest.json
    python -m export serpent --merged     # also merged/: full weights, logits checked against base+adapter
    python -m export --all --force        # every trained specialist, replacing earlier exports
    python -m export serpent paths.exports=elsewhere   # KEY=VALUE overrides, as every stage takes them
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import config as cfglib
from core.config import ConfigError, Specialist
from core.version import code_version

MERGE_ATOL = 1e-4  # max |logit difference| allowed between merged weights and base + adapter
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts
# Bases (config.json model_type) whose PEFT safetensors adapter Ollama converts itself: its ConvertAdapter handles the
# "llama" architecture (Llama and Mistral bases) and "gemma2". Every other base gets ADAPTER ./adapter.gguf.
OLLAMA_SAFETENSORS_ADAPTERS = {"llama", "mistral", "gemma2"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_card(sp: Specialist, base: str, training: dict[str, Any], report_md: str | None) -> str:
    cfg = {k: training.get("config", {}).get(k) for k in ("lora", "sft")}
    return f"""---
base_model: {base}
library_name: peft
pipeline_tag: text-generation
tags:
- lora
- sft
- trl
- coding-agent
- tool-use
- {sp.language}
---
# {sp.name}: a {sp.language} coding-agent LoRA for `{base}`

Fine-tuned with TRL's SFTTrainer on {training.get('train_windows', '?')} windows of real coding-agent sessions
in {sp.language} (tool calls included), loss on assistant turns only.

## Use
`adapter` is the folder holding this card (the workbench writes it to `<paths.exports>/{sp.name}/adapter`).
```python
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer
adapter = "path/to/{sp.name}/adapter"  # this folder
model = AutoPeftModelForCausalLM.from_pretrained(adapter)  # loads the base named in adapter_config.json, then this
tokenizer = AutoTokenizer.from_pretrained(adapter)
```

## Evaluation
{report_md.split(chr(10), 2)[2].strip() if report_md else "Not evaluated yet (`make eval NAME=" + sp.name + "`)."}

## Training
- steps {training.get('global_step')}, tokens seen {training.get('tokens_seen')}, final train loss {training.get('train_loss')}
- data fingerprint `{training.get('data_fingerprint')}`

```json
{json.dumps(cfg, indent=2, default=str)}
```
"""


PLOT = "metrics.png"  # the evaluation report's plot (eval/report.py), linked from eval.md
IMAGE = f"]({PLOT})"


def export(sp: Specialist, *, merged: bool = False, force: bool = False) -> dict[str, Any]:
    """exports/<name>/, replaced whole (core.atomic) under its lock; a second export of it meanwhile is refused."""
    from core.atomic import settle
    from core.lock import output_lock

    with output_lock(sp.path("exports"), what=f"export {sp.name}"):
        for inputs in (sp.path("outputs"), sp.path("reports")):
            settle(inputs)  # what a killed train or eval committed is finished before it is read
        return _export(sp, merged=merged, force=force)


def _export(sp: Specialist, *, merged: bool, force: bool) -> dict[str, Any]:
    from core.atomic import Transaction, outputs, settle

    out = sp.path("exports")
    settle(out, held=True)
    if outputs(out) and not force:
        raise ConfigError(f"{sp.name}: {out} exists; pass FORCE=1 (--force) to replace it")
    src = sp.path("outputs") / "adapter"
    if not (src / "adapter_config.json").exists():
        raise ConfigError(f"{sp.name}: no trained adapter at {src}; run `make train NAME={sp.name}` first")
    base = sp.config["model"]["model_name_or_path"]
    from export.gguf_lora import hf_architecture
    from core.models import resolve_base

    recorded = json.loads((src / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if recorded != resolve_base(base):
        if recorded and Path(recorded).is_absolute() and not Path(base).expanduser().exists():
            gone = "" if Path(recorded).exists() else ", which no longer exists"
            raise ConfigError(f"{sp.name}: the adapter's base cannot be found: the configured base {base!r} is not a "
                              f"folder here (the adapter was trained on the folder {recorded}{gone}); set "
                              f"model.model_name_or_path to the base folder")
        raise ConfigError(f"{sp.name}: the adapter was trained on {recorded}, the config's base is {base}")
    bcfg = base_config(sp.name, base, sp.config["model"].get("model_revision"))  # architecture, for GGUF and Ollama
    with Transaction(out, what=f"export {sp.name}", replace_all=True) as tx:
        staging = tx.dir
        adapter = staging / "adapter"
        shutil.copytree(src, adapter)
        cfg_path = adapter / "adapter_config.json"
        acfg = json.loads(cfg_path.read_text())
        acfg["base_model_name_or_path"] = base  # the Hub id or the path the user gave, not this machine's path
        cfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")
        training_path = sp.path("outputs") / "training_summary.json"
        training = json.loads(training_path.read_text()) if training_path.exists() else {}
        report = sp.path("reports") / "eval.md"
        report_md = report.read_text() if report.exists() else None
        if report_md and IMAGE in report_md:  # the card shows the report's plot: it travels with the card
            if (report.parent / PLOT).is_file():
                shutil.copy2(report.parent / PLOT, adapter / PLOT)
            else:
                report_md = "\n".join(line for line in report_md.split("\n") if IMAGE not in line)
        (adapter / "README.md").write_text(model_card(sp, base, training, report_md))
        merged_check = None
        if merged:
            merged_check = _merge(sp, src, staging / "merged")
        gguf_info = _gguf(adapter, bcfg, staging / "adapter.gguf", sp.name)
        if bcfg.get("model_type") in OLLAMA_SAFETENSORS_ADAPTERS:
            ollama_adapter: str | None = "./adapter"
        else:
            ollama_adapter = "./adapter.gguf" if "file" in gguf_info else None
        if ollama_adapter:
            template = adapter / "chat_template.jinja"
            (staging / "Modelfile").write_text(modelfile(sp.name, base, out, ollama_adapter,
                                                         template.read_text() if template.is_file() else None))
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "specialist": sp.name, "language": sp.language, "base_model": base, "adapter_source": str(src),
            "data_fingerprint": training.get("data_fingerprint"), "code_version": code_version(),
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "base_architecture": hf_architecture(bcfg), "lora_rank": acfg.get("r"),
            "lora_max_rank": max([int(acfg.get("r") or 0), *map(int, (acfg.get("rank_pattern") or {}).values())]),
            "lora_alpha": acfg.get("lora_alpha"), "gguf": gguf_info, "ollama_adapter": ollama_adapter,
            "merged_logits_max_abs_diff": merged_check,
            "files": {str(p.relative_to(staging)): _sha256(p) for p in files},
        }
        tx.write_text("manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def base_config(name: str, base: str, revision: str | None = None) -> dict[str, Any]:
    """The base's config.json: from the local folder the config names (a GGUF base's converted folder), else from the
    Hub (or its cache)."""
    from core import bases

    local = bases.prepare(base) if bases.is_gguf(base) else Path(base).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ConfigError(f"{name}: the adapter's base {base!r} cannot be used: the folder has no config.json")
        return json.loads((local / "config.json").read_text())
    if local.is_absolute() or base.startswith((".", "~")) or base.count("/") > 1:
        raise ConfigError(f"{name}: the adapter's base cannot be found: {base!r} is not a folder here")
    from huggingface_hub import constants
    from transformers import PretrainedConfig

    from core.models import hub_options

    try:
        cfg, _ = PretrainedConfig.get_config_dict(base, revision=revision or "main", **hub_options(base))
    except (OSError, ValueError) as e:
        where = ("its config.json is not in the Hugging Face cache and the Hub is offline (HF_HUB_OFFLINE=1)"
                 if constants.HF_HUB_OFFLINE else "its config.json could not be read from the Hub")
        raise ConfigError(f"{name}: the adapter's base {base!r} cannot be found: not a local folder, and {where}: "
                          f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return cfg


def _gguf(adapter: Path, bcfg: dict[str, Any], dest: Path, name: str) -> dict[str, Any]:
    """adapter.gguf for llama.cpp and Ollama: what was written, or {"skipped": why} when it has no GGUF form."""
    from export.gguf_lora import Unsupported, write_gguf_lora

    try:
        return write_gguf_lora(adapter, bcfg, dest, name=name)
    except Unsupported as e:
        dest.unlink(missing_ok=True)
        return {"skipped": str(e)}




def _merge(sp: Specialist, adapter: Path, dest: Path) -> float:
    """Merge the adapter into the base, save it with the tokenizer, and check its logits against base + adapter."""
    import torch
    from peft import PeftModel

    from core.models import load_model, config_tokenizer

    tok = config_tokenizer(sp.config, who=sp.name)
    model = PeftModel.from_pretrained(load_model(sp.config["model"]), str(adapter)).eval()
    probe = tok("fn main() { println!(\"hello\"); }\nimport os\nclass A; end", return_tensors="pt")
    with torch.no_grad():
        want = model(**probe).logits.float()
    merged = model.merge_and_unload()
    with torch.no_grad():
        got = merged(**probe).logits.float()
    diff = float((want - got).abs().max())
    if diff > MERGE_ATOL:
        raise ConfigError(f"{sp.name}: merged weights' logits differ from base + adapter by {diff:.2e} "
                          f"(> {MERGE_ATOL}); the merged export was not written")
    merged.save_pretrained(str(dest))
    tok.save_pretrained(str(dest))
    return diff


def modelfile(name: str, base: str, out: Path, adapter: str = "./adapter", chat_template: str | None = None) -> str:
    """An Ollama Modelfile for one exported adapter (written inside the export, so it is checksummed with it).

    FROM names the base as configured (a GGUF base: the GGUF file it came from); ADAPTER is ./adapter (PEFT
    safetensors) for the bases Ollama converts itself, else ./adapter.gguf. Paths in a Modelfile are read from the
    Modelfile's own folder. When the adapter trained with the workbench's tool format (core/templates.py) rather than
    the base's own template, TEMPLATE writes that format in Ollama's Go template language.
    """
    from core import bases

    lines = [f"# ollama create {name} -f {out / 'Modelfile'}",
             "# FROM must be the exact base the adapter was trained on (unquantized is best)."]
    local = Path(base).expanduser()
    source = base
    record = bases.provenance(bases.prepared(base)) if bases.is_gguf(base) and bases.prepared(base) else None
    if record:
        source = record["gguf_path"]
        lines.append(f"# FROM is the GGUF file the base {base} came from ({record['quantization']}): the adapter was "
                     f"trained on its dequantized weights.")
    elif local.exists():
        if local.is_absolute():
            lines.append(f"# FROM is the base folder as configured ({base}), an absolute path.")
        else:
            # Ollama reads a relative FROM from the Modelfile's folder, not from where `ollama create` runs
            source = os.path.relpath(os.path.abspath(local), os.path.abspath(out))
            lines.append(f"# FROM is the base folder as configured ({base}), written relative to this Modelfile's "
                         f"folder, which is where Ollama reads a relative path from.")
    else:
        lines += [f"# {base} is a Hugging Face Hub id, which Ollama cannot pull. Download the base first:",
                  f"#   hf download {base} --local-dir <folder>",
                  "# then set FROM to that folder (Ollama imports safetensors weights of Llama, Mistral, Gemma, Phi3,",
                  "# Qwen2 and more), or to a GGUF of the same weights made with llama.cpp's convert_hf_to_gguf.py."]
    if adapter.endswith(".gguf"):
        lines.append("# ADAPTER: the GGUF LoRA adapter (llama.cpp's layout); Ollama reads safetensors adapters only "
                     "for Llama, Mistral and Gemma bases.")
    else:
        lines.append("# ADAPTER: the PEFT safetensors adapter, which Ollama converts itself for this base.")
    text = "\n".join(lines) + f"\nFROM {source}\nADAPTER {adapter}\n"
    go = ollama_template(chat_template)
    if go:
        text += ("# TEMPLATE: the tool format the adapter trained with (its Jinja form is adapter/chat_template.jinja);"
                 "\n# Ollama writes the tool schemas as compact JSON, where training had a space after each colon.\n"
                 f'TEMPLATE """{go}"""\n')
    return text


def ollama_template(chat_template: str | None) -> str | None:
    """The workbench's tool formats (core/templates.py) in Ollama's Go template language; None for any other."""
    from core.templates import CHATML_TOOLS, GEMMA_TOOLS

    tools = ("# Tools\n\nYou may call one or more functions to assist with the user query.{{ if $chatml }}\n\nYou "
             "are provided with function signatures within <tools></tools> XML tags:{{ else }} The function "
             "signatures, within <tools></tools> XML tags:{{ end }}\n<tools>{{ range .Tools }}\n{{ . }}{{ end }}"
             "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
             "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
             "<args-json-object>}\n</tool_call>")
    calls = ("{{ range $j, $c := .ToolCalls }}{{ if or $.Content $j }}\n{{ end }}<tool_call>\n{\"name\": "
             "\"{{ $c.Function.Name }}\", \"arguments\": {{ $c.Function.Arguments }}}\n</tool_call>{{ end }}")
    if chat_template == CHATML_TOOLS:
        return ("{{ $chatml := true }}{{ if .Tools }}<|im_start|>system\n{{ if .System }}{{ .System }}\n\n{{ end }}"
                + tools + "<|im_end|>\n{{ else if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
                "{{ range $i, $m := .Messages }}{{ if eq $m.Role \"user\" }}<|im_start|>user\n{{ $m.Content }}"
                "<|im_end|>\n{{ else if eq $m.Role \"assistant\" }}<|im_start|>assistant\n{{ $m.Content }}"
                + calls.replace("$.Content", "$m.Content").replace(".ToolCalls", "$m.ToolCalls") +
                "<|im_end|>\n{{ else if eq $m.Role \"tool\" }}<|im_start|>user\n<tool_response>\n{{ $m.Content }}"
                "\n</tool_response><|im_end|>\n{{ end }}{{ end }}<|im_start|>assistant\n")
    if chat_template == GEMMA_TOOLS:
        return ("{{ $chatml := false }}{{ range $i, $m := .Messages }}{{ if eq $m.Role \"user\" }}<start_of_turn>"
                "user\n{{ if eq $i 0 }}{{ if $.System }}{{ $.System }}\n\n{{ end }}{{ if $.Tools }}"
                + tools.replace(".Tools", "$.Tools") + "\n\n{{ end }}{{ end }}{{ $m.Content }}<end_of_turn>\n"
                "{{ else if eq $m.Role \"assistant\" }}<start_of_turn>model\n{{ $m.Content }}"
                + calls.replace("$.Content", "$m.Content").replace(".ToolCalls", "$m.ToolCalls") +
                "<end_of_turn>\n{{ else if eq $m.Role \"tool\" }}<start_of_turn>user\n<tool_response>\n"
                "{{ $m.Content }}\n</tool_response><end_of_turn>\n{{ end }}{{ end }}<start_of_turn>model\n")
    return None


# The tool-call format a chat template writes (a marker in the template) -> vLLM's --tool-call-parser; first match wins.
VLLM_TOOL_PARSERS = (
    ("<function=", "qwen3_coder"),                   # Qwen3-Coder: <tool_call><function=NAME><parameter=KEY>...
    ("[TOOL_CALLS]", "mistral"),
    ("<|start_header_id|>ipython", "llama3_json"),   # Llama 3.1-3.3: JSON calls, results in the ipython role
    ("<\uff5ctool\u2581calls\u2581begin\uff5c>", "deepseek_v3"),
    ("<|channel|>", "openai"),                       # gpt-oss (harmony)
    ("<tool_call>", "hermes"),                       # Hermes, Qwen2.5, Qwen3, the demo base
)


def vllm_tool_parser(chat_template: str | None) -> str | None:
    """vLLM's tool-call parser for the format this chat template writes, or None when none is known."""
    return next((parser for marker, parser in VLLM_TOOL_PARSERS if chat_template and marker in chat_template), None)


def serving_recipes(exports_root: Path, base: str, manifests: list[dict[str, Any]]) -> list[Path]:
    """vLLM scripts serving each base with every exported adapter of it as a named LoRA module (written atomically).

    One base (the usual case): exports/serve_vllm.sh. Adapters of several bases (a specialist's config names
    another base): one exports/serve_vllm-<base>.sh per base, since one vLLM server serves one base. The tool-call
    parser follows the adapters' chat template. `base` stands for a manifest without one. Returns the scripts
    (none, and nothing touched, without a manifest).
    """
    if not manifests:
        return []
    from core.lock import output_lock

    with output_lock(exports_root, what="export serving recipes"):
        return _serving_recipes(exports_root, base, manifests)


def _serving_recipes(exports_root: Path, base: str, manifests: list[dict[str, Any]]) -> list[Path]:
    from core.atomic import write_atomic

    by_base: dict[str, list[dict[str, Any]]] = {}
    for m in manifests:
        by_base.setdefault(m.get("base_model") or base, []).append(m)
    scripts = {"serve_vllm.sh": next(iter(by_base.items()))} if len(by_base) == 1 else {
        f"serve_vllm-{re.sub(r'[^A-Za-z0-9._-]+', '_', b).strip('_.')}.sh": (b, ms) for b, ms in by_base.items()}
    for stale in exports_root.glob("serve_vllm*.sh"):
        if stale.name not in scripts:
            stale.unlink()
    for filename, (b, ms) in scripts.items():
        names = [m["specialist"] for m in ms]
        rank = max(int(m.get("lora_max_rank") or m.get("lora_rank") or 16) for m in ms)
        max_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), rank)
        # every path from the script's own folder, so it runs from anywhere (and after the exports are moved)
        modules = " \\\n  ".join(f'{n}="$here/{n}/adapter"' for n in names)
        local = Path(b).expanduser()
        served = f'"$here/{os.path.relpath(os.path.abspath(local), os.path.abspath(exports_root))}"' \
            if local.exists() and not local.is_absolute() else b
        template = exports_root / names[0] / "adapter" / "chat_template.jinja"
        parser = vllm_tool_parser(template.read_text() if template.is_file() else None)
        tools = (f"  --enable-auto-tool-choice --tool-call-parser {parser} \\\n" if parser else "")
        note = ("" if parser else "# No vLLM tool-call parser is known for this chat template's tool calls: add\n"
                "# --enable-auto-tool-choice --tool-call-parser <name> (vLLM's tool calling docs list the names).\n")
        script = ("#!/usr/bin/env sh\n# Serve the base with every exported specialist as a named LoRA module (OpenAI API,\n"
                  "# pick one with \"model\": \"<name>\"). Arguments pass through to vllm serve: `make serve` adds\n"
                  "# --host, --port and --served-model-name base.\n" + note +
                  'here="$(cd "$(dirname "$0")" && pwd)"\n'
                  f"exec vllm serve {served} \\\n  --enable-lora --max-loras {len(names)} --max-lora-rank {max_rank} \\\n"
                  f"{tools}  --lora-modules \\\n  {modules} \\\n  \"$@\"\n")
        write_atomic(exports_root / filename, script, mode=0o755)
    return [exports_root / f for f in scripts]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("items", nargs="*", metavar="NAME|KEY=VALUE", help="specialists, then config overrides")
    p.add_argument("--all", action="store_true", help="every specialist with a trained adapter")
    p.add_argument("--overlay", default=None)
    p.add_argument("--merged", action="store_true", help="also write merged full weights (merged/)")
    p.add_argument("--force", action="store_true", help="replace an existing export")
    a = p.parse_intermixed_args(argv)
    from core.models import quiet_libraries

    quiet_libraries()
    names = [x for x in a.items if "=" not in x]
    overrides = [x for x in a.items if "=" in x]
    try:
        names = cfglib.select_names(names, a.all, lambda sp: (sp.path("outputs") / "adapter").is_dir(),
                                    "no specialist has a trained adapter; run `make train NAME=...` first",
                                    overlay=a.overlay, overrides=overrides)
        specs = [cfglib.specialist(n, overlay=a.overlay, overrides=overrides) for n in names]
        done = []
        for sp in specs:
            m = export(sp, merged=a.merged, force=a.force)
            done.append(m)
            print(f"export {sp.name}: {len(m['files'])} files -> {sp.path('exports')}", flush=True)
            if "skipped" in m["gguf"]:
                no_modelfile = "" if m["ollama_adapter"] else (
                    "; no Modelfile: Ollama reads safetensors adapters only for Llama, Mistral and Gemma bases")
                print(f"export {sp.name}: no adapter.gguf: {m['gguf']['skipped']}{no_modelfile}", flush=True)
        root = Path(specs[0].config["paths"]["exports"])
        every = [json.loads(p.read_text()) for p in sorted(root.glob("*/manifest.json"))]
        scripts = serving_recipes(root, specs[0].config["model"]["model_name_or_path"], every)
        vllm = (f"{scripts[0]} (vLLM, all adapters)" if len(scripts) == 1 else
                f"{', '.join(map(str, scripts))} (vLLM, one per base)")
        print(f"serving: {vllm}, {root}/<name>/Modelfile (Ollama), {root}/<name>/adapter.gguf (llama.cpp --lora)")
        from export.agents import served_limits, write_agent_configs

        exported = [{"name": m["specialist"], "language": m["language"],
                     "system_prompt": cfglib.specialist(m["specialist"], overlay=a.overlay).system_prompt}
                    for m in every if m.get("specialist") in cfglib.specialist_names()]
        agents = write_agent_configs(root, specs[0].config.get("serve") or {}, specs[0].config["model"]["model_name_or_path"],
                                     exported, served_limits(specs[0].config))
        print(f"agents: {agents}/ (opencode.json, codex/, litellm-bridge.yaml, mini-swe-agent/) for `make serve`")
    except ConfigError as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2
    return 0
