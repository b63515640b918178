"""Shared by the serving tests: exported specialists on the tiny base, and a model over-fit to one tool call.

Lives beside the tests (import as `from serve_support import ...`); it holds no tests.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

EXPORTED = ("oxidizer", "serpent")  # two specialists keep the engine tests short; the code path is the same for five
TOOLS = [{"type": "function", "function": {
    "name": "bash", "description": "Run a shell command.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
ASK = [{"role": "system", "content": "You are a coding agent."},
       {"role": "user", "content": "List the files in this repository."}]
# The one reply the over-fit model writes: text, then a well-formed call in the base's own format.
REPLY = 'Listing the files.\n<tool_call>{"name": "bash", "arguments": {"command": "ls -la"}}</tool_call>'


def random_adapter(base: Path, out: Path, seed: int) -> Path:
    """A LoRA on every linear layer with random (non-zero) weights, saved as training saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                            init_lora_weights=False))
    peft.save_pretrained(out)
    return out


def export_specialists(workspace: dict, root: Path, names=EXPORTED) -> str:
    """An overlay whose outputs/exports live under root, with `names` trained (random LoRAs) and exported."""
    from export.bundle import main as export_main

    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    root.mkdir(parents=True, exist_ok=True)
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    for i, name in enumerate(names):
        random_adapter(workspace["base"], root / "outputs" / name / "adapter", seed=i + 1)
    assert export_main([*names, "--overlay", str(overlay), "--force"]) == 0
    return str(overlay)


def overfit_tool_caller(out: Path, corpus: list[str], steps: int = 300) -> Path:
    """A tiny model trained (all parameters) until its only reply to ASK, with or without TOOLS, is REPLY.

    Real weights whose output is known, so a real engine's tool-call parsing can be checked end to end.
    """
    import torch

    from sample.tiny_model import build_tiny_base

    base = build_tiny_base(out, corpus, hidden_size=64, num_layers=2, vocab_size=1024, seed=0)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    rows = []
    for tools in (TOOLS, None):
        for system in (ASK[0]["content"], "You are a helpful agent."):
            messages = [{"role": "system", "content": system}, ASK[1]]
            prompt = tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
            p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            r_ids = tok(REPLY + "<|im_end|>", add_special_tokens=False)["input_ids"]
            rows.append((p_ids + r_ids, [-100] * len(p_ids) + r_ids))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    mask = (torch.arange(width)[None, :] < torch.tensor([len(i) for i, _ in rows])[:, None]).long()
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 1e-3:
            break
    model.eval()
    model.save_pretrained(base)
    (base / "overfit.json").write_text(json.dumps({"reply": REPLY, "final_loss": loss.item()}) + "\n")
    return base


def overlay_for_base(base: Path, root: Path, workspace_overlay: str) -> str:
    """An overlay serving `base` alone (nothing exported for it) from a folder of its own."""
    cfg = yaml.safe_load(Path(workspace_overlay).read_text())
    cfg["model"]["model_name_or_path"] = str(base)
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    root.mkdir(parents=True, exist_ok=True)
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(cfg))
    return str(overlay)


def peft_greedy(workspace, overlay, name, messages, n):
    """PEFT's base + adapter (float32): greedy token ids and their log-probabilities for n new tokens."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(workspace["base"])
    model = AutoModelForCausalLM.from_pretrained(workspace["base"], dtype=torch.float32)
    if name != "base":
        exports = yaml.safe_load(Path(overlay).read_text())["paths"]["exports"]
        model = PeftModel.from_pretrained(model, f"{exports}/{name}/adapter")
    model.eval()
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    out, logprobs = ids["input_ids"], []
    with torch.no_grad():
        for _ in range(n):
            logp = torch.log_softmax(model(input_ids=out).logits[0, -1].double(), -1)
            nxt = int(logp.argmax())
            logprobs.append(float(logp[nxt]))
            out = torch.cat([out, torch.tensor([[nxt]])], 1)
            if nxt == tok.eos_token_id:
                break
    new = out[0, ids["input_ids"].shape[1]:].tolist()
    return tok, new, logprobs
