"""The exported adapter.gguf, loaded by llama.cpp over a base converted by llama.cpp's own converter, gives PEFT's logits.

Tiny Llama and Qwen2 bases (random weights, a byte-level BPE tokenizer) and a random LoRA on every linear layer;
every position of a prompt is compared. Tolerance: MAX_DIFF, with an f32 GGUF and an f32 KV cache (we measured
about 5e-6; the default f16 KV cache gives about 1e-3).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

MAX_DIFF = 1e-4
TEXT = "fn main() { println!(\"hello\"); }\nimport os\nclass A; end\n<tool_call>{\"name\": \"bash\"}</tool_call>"


def tiny(kind: str, vocab: int):
    from transformers import LlamaConfig, Qwen2Config

    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=vocab, max_position_embeddings=512)
    return LlamaConfig(**common) if kind == "llama" else Qwen2Config(**common)


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def converted(request, tmp_path_factory):
    """(PEFT model, token ids, base.gguf, adapter.gguf) for one architecture."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from export.gguf_lora import write_gguf_lora
    from sample.tiny_model import train_tokenizer
    from serve.convert import base_gguf

    kind = request.param
    root = tmp_path_factory.mktemp(f"gguf-{kind}")
    tok = train_tokenizer([TEXT] * 4, vocab_size=400)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny(kind, len(tok)))
    base_dir, lora_dir = root / "base", root / "lora"
    model.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    peft.save_pretrained(lora_dir)
    adapter = root / "adapter.gguf"
    write_gguf_lora(lora_dir, json.loads((base_dir / "config.json").read_text()), adapter)
    gguf = base_gguf(str(base_dir), root / "cache", log=lambda *_: None)
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), lora_dir).eval()
    return {"kind": kind, "peft": peft, "tok": tok, "ids": tok(TEXT)["input_ids"], "gguf": gguf, "adapter": adapter}


def llama_cpp_logits(gguf, ids, adapter=None):
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), lora_path=str(adapter) if adapter else None, n_ctx=256, logits_all=True,
                type_k=0, type_v=0, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float64), llm
    finally:
        llm.close()


def test_the_converted_base_is_the_f32_of_the_hf_weights(converted):
    assert converted["gguf"].name == "base.f32.gguf"  # the random base is float32: lossless


def test_llama_cpp_with_the_adapter_gives_pefts_logits_at_every_position(converted):
    import torch

    with torch.no_grad():
        want = converted["peft"](torch.tensor([converted["ids"]])).logits[0].double().numpy()
        with converted["peft"].disable_adapter():
            base = converted["peft"](torch.tensor([converted["ids"]])).logits[0].double().numpy()
    got, _ = llama_cpp_logits(converted["gguf"], converted["ids"], converted["adapter"])
    assert np.abs(want - base).max() > 100 * MAX_DIFF  # the adapter matters: the comparison can fail
    assert np.abs(got - want).max() < MAX_DIFF, converted["kind"]


def test_llama_cpp_without_the_adapter_gives_the_bases_logits(converted):
    import torch

    with torch.no_grad(), converted["peft"].disable_adapter():
        want = converted["peft"](torch.tensor([converted["ids"]])).logits[0].double().numpy()
    got, _ = llama_cpp_logits(converted["gguf"], converted["ids"])
    assert np.abs(got - want).max() < MAX_DIFF


def test_the_converted_tokenizer_gives_hugging_faces_ids(converted):
    from llama_cpp import Llama

    llm = Llama(model_path=str(converted["gguf"]), vocab_only=True, verbose=False)
    try:
        assert llm.tokenize(TEXT.encode(), add_bos=False, special=True) == converted["ids"]
    finally:
        llm.close()


def test_a_second_call_reuses_the_cached_conversion(converted):
    from serve.convert import base_gguf

    before = converted["gguf"].stat().st_mtime_ns
    again = base_gguf(str(converted["gguf"].parents[1] / "base"), converted["gguf"].parent, log=pytest.fail)
    assert again == converted["gguf"] and again.stat().st_mtime_ns == before
