"""Exports that work from where they are (issue 18, point 14).

The Modelfile's FROM for a local base is written relative to the Modelfile's folder (where Ollama reads it from),
as its comment says; serve_vllm.sh finds the adapters and a local base from its own folder, so it runs from
anywhere; the model card does not assume the repository root; the manifest's gguf "layers" counts layers.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from export.bundle import modelfile, serving_recipes


def test_modelfile_from_a_local_base_resolves_from_the_modelfiles_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo" / "base").mkdir(parents=True)
    out = Path("demo/exports/serpent")
    out.mkdir(parents=True)
    text = modelfile("serpent", "demo/base", out)
    source = next(line[5:] for line in text.splitlines() if line.startswith("FROM "))
    assert (out / source).resolve() == (tmp_path / "demo" / "base").resolve()
    assert "relative to this Modelfile's folder" in text
    absolute = modelfile("serpent", str(tmp_path / "demo" / "base"), out)
    assert f"\nFROM {tmp_path / 'demo' / 'base'}\n" in absolute


def test_serve_vllm_runs_from_any_folder(tmp_path, monkeypatch):
    """A stand-in `vllm` that prints its arguments (the harness under test is the script, not vLLM)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo" / "base").mkdir(parents=True)
    root = Path("demo/exports")
    for name in ("serpent", "forge"):
        (root / name / "adapter").mkdir(parents=True)
    manifests = [{"specialist": n, "base_model": "demo/base", "lora_rank": 16} for n in ("serpent", "forge")]
    [script] = serving_recipes(root, "demo/base", manifests)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vllm").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (bin_dir / "vllm").chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(["sh", str(script.resolve())], cwd=elsewhere, capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert run.returncode == 0, run.stderr
    args = run.stdout.splitlines()
    assert args[0] == "serve" and Path(args[1]).resolve() == (tmp_path / "demo" / "base").resolve()
    modules = [a for a in args if "=" in a and not a.startswith("-")]
    assert {m.split("=", 1)[0] for m in modules} == {"serpent", "forge"}
    for m in modules:
        assert Path(m.split("=", 1)[1]).is_dir(), m


def test_the_model_card_does_not_assume_the_repository_root():
    from core.config import Specialist
    from export.bundle import model_card

    card = model_card(Specialist("serpent", "python", "", {}), "Qwen/Qwen2.5-Coder-1.5B-Instruct", {}, None)
    assert 'from_pretrained("exports/serpent/adapter")' not in card
    assert "this folder" in card


def test_gguf_layers_counts_layers_not_lora_modules(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    from export.gguf_lora import write_gguf_lora

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    tensors = {}
    for layer in range(2):
        for mod, (o, i) in {"self_attn.q_proj": (16, 16), "self_attn.k_proj": (8, 16), "self_attn.v_proj": (8, 16),
                            "self_attn.o_proj": (16, 16), "mlp.up_proj": (32, 16), "mlp.down_proj": (16, 32),
                            "mlp.gate_proj": (32, 16)}.items():
            key = f"base_model.model.model.layers.{layer}.{mod}"
            tensors[f"{key}.lora_A.weight"] = torch.zeros(4, i)
            tensors[f"{key}.lora_B.weight"] = torch.zeros(o, 4)
    save_file(tensors, str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8}))
    base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 1, "hidden_size": 16}
    info = write_gguf_lora(adapter, base, tmp_path / "adapter.gguf")
    assert info["layers"] == 2 and info["modules"] == 14
