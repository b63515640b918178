"""A PEFT LoRA adapter as a llama.cpp GGUF LoRA adapter, the file llama.cpp's `convert_lora_to_gguf.py` writes.

What llama.cpp's loader (`llama_adapter_lora_init`) reads and checks:
- `general.type` = "adapter", `general.architecture` = the base's GGUF architecture (must equal the model's),
  `adapter.type` = "lora", `adapter.lora.alpha` (float32). llama.cpp scales each pair by alpha / rank, the rank
  read from `lora_b`.
- For each adapted linear layer whose base tensor is `W` (GGUF name, e.g. `blk.0.attn_q.weight`): `W.lora_a` holds
  PEFT's lora_A (r x in) and `W.lora_b` PEFT's lora_B (out x r), as row-major arrays. GGUF lists dimensions
  innermost first, so ne(lora_a) = (in, r) and ne(lora_b) = (r, out) against ne(W) = (in, out): no transposition.
- Llama-architecture bases: `convert_hf_to_gguf.py` permutes the rows of q_proj and k_proj into llama.cpp's rotary
  layout; the same permutation applies to the rows of lora_b (lora_a is untouched), as convert_lora_to_gguf does.
- Tensors are written as F32 (lossless for fp32, fp16 and bf16 adapters), like its default `--outtype f32`.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

# The base's `architectures[0]` -> (gguf.MODEL_ARCH member, permute q/k rows as convert_hf_to_gguf's LlamaModel does).
# Only architectures whose linear weights convert_hf_to_gguf.py maps by name alone (plus Llama's q/k permutation).
ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "LlamaForCausalLM": ("LLAMA", True),
    "MistralForCausalLM": ("LLAMA", True),
    "Qwen2ForCausalLM": ("QWEN2", False),
    "Qwen3ForCausalLM": ("QWEN3", False),
    "GemmaForCausalLM": ("GEMMA", False),
    "Gemma2ForCausalLM": ("GEMMA2", False),
    "Gemma3ForCausalLM": ("GEMMA3", False),
}
SUPPORTED = "Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma 2 and Gemma 3 (text)"


class Unsupported(Exception):
    """This adapter or base has no GGUF LoRA form here: a reason to skip the file, not an error."""


def hf_architecture(base_config: dict[str, Any]) -> str | None:
    """The base's architecture class name from its config.json (a nested text_config's first, as llama.cpp does)."""
    text = base_config.get("text_config") or {}
    archs = text.get("architectures") or base_config.get("architectures") or []
    return archs[0] if archs else None


def gguf_architecture(base_config: dict[str, Any]):
    """(gguf.MODEL_ARCH, its GGUF name, permute q/k) for a base, or Unsupported."""
    import gguf

    arch = hf_architecture(base_config)
    if arch not in ARCHITECTURES:
        raise Unsupported(f"the base's architecture {arch or '(none in config.json)'} has no GGUF LoRA mapping here "
                          f"({SUPPORTED} bases have)")
    member, permute = ARCHITECTURES[arch]
    model_arch = gguf.MODEL_ARCH[member]
    return model_arch, gguf.MODEL_ARCH_NAMES[model_arch], permute


def permute_rows(w, n_head: int, n_head_kv: int | None = None):
    """convert_hf_to_gguf.py's LlamaModel.permute, on the rows (output features) of a 2-D array."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's rank_pattern / alpha_pattern lookup (peft.utils.other.get_pattern_key) for one module name."""
    from peft.utils.other import get_pattern_key

    return patterns.get(get_pattern_key(list(patterns), module), default) if patterns else default


def lora_pairs(adapter_dir: Path) -> dict[str, tuple[Any, Any]]:
    """{HF module name (model.layers.0.self_attn.q_proj): (lora_A, lora_B)} as float32 numpy arrays, or Unsupported."""
    from safetensors.torch import load_file

    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():
        raise Unsupported(f"no adapter_model.safetensors in {adapter_dir}")
    tensors = {k: v.float().numpy() for k, v in load_file(str(path)).items()}  # via torch: bf16 has no numpy dtype
    pairs: dict[str, list[Any]] = {}
    for key, value in tensors.items():
        name = key.removeprefix("base_model.model.")
        for suffix, slot in ((".lora_A.weight", 0), (".lora_B.weight", 1)):
            if name.endswith(suffix):
                pairs.setdefault(name[: -len(suffix)], [None, None])[slot] = value
                break
        else:
            raise Unsupported(f"tensor {key} is not a lora_A/lora_B weight (embeddings, modules_to_save, biases "
                              f"and DoRA have no GGUF LoRA form)")
    for module, (a, b) in pairs.items():
        if a is None or b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise Unsupported(f"{module}: not a complete 2-D lora_A/lora_B pair")

    def natural(module: str) -> list:  # layers 2 before 10
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", module)]

    return {m: (pairs[m][0], pairs[m][1]) for m in sorted(pairs, key=natural)}


def write_gguf_lora(adapter_dir: Path, base_config: dict[str, Any], dest: Path, *, name: str | None = None
                    ) -> dict[str, Any]:
    """Write adapter_dir's PEFT LoRA as a llama.cpp GGUF LoRA adapter at dest.

    base_config is the base's config.json (architecture, layer and head counts). Returns what was written:
    {"file", "architecture", "lora_alpha", "tensors", "layers"}. Raises Unsupported (nothing written) when the base's
    architecture or the adapter has no GGUF LoRA form.
    """
    import gguf
    import numpy as np

    acfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    if acfg.get("peft_type", "LORA") != "LORA":
        raise Unsupported(f"a {acfg.get('peft_type')} adapter is not a LoRA")
    if acfg.get("use_dora"):
        raise Unsupported("DoRA adapters have no GGUF LoRA form llama.cpp reads")
    model_arch, arch_name, permute = gguf_architecture(base_config)
    hp = base_config.get("text_config") or base_config
    n_blocks = int(hp["num_hidden_layers"])
    n_head = hp.get("num_attention_heads")
    n_kv_head = hp.get("num_key_value_heads")
    names = gguf.get_tensor_name_map(model_arch, n_blocks)
    pairs = lora_pairs(adapter_dir)
    if not pairs:
        raise Unsupported("the adapter holds no LoRA weights")

    # llama.cpp applies alpha / rank to every pair (rank from the tensor); PEFT applies alpha / r, alpha / sqrt(r) with
    # rsLoRA, and per-module alpha_pattern values. Record an alpha that reproduces PEFT's scaling for the configured
    # r, and fold any other module's difference into its lora_b (a no-op for the usual adapter).
    r0, alpha0 = int(acfg["r"]), float(acfg["lora_alpha"])
    rslora = bool(acfg.get("use_rslora"))
    alpha = alpha0 * math.sqrt(r0) if rslora else alpha0
    tensors: list[tuple[str, Any]] = []
    for module, (a, b) in pairs.items():
        if module.endswith("lm_head") and base_config.get("tie_word_embeddings"):
            raise Unsupported("an adapter on lm_head of a base with tied embeddings has no GGUF tensor to apply to")
        gguf_name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise Unsupported(f"{module} has no GGUF tensor name for the {arch_name} architecture")
        rank = a.shape[0]
        module_alpha = float(_pattern_value(acfg.get("alpha_pattern") or {}, module, alpha0))
        want = module_alpha / (math.sqrt(rank) if rslora else rank)
        factor = want / (alpha / rank)
        if not math.isclose(factor, 1.0, rel_tol=1e-6):
            b = b * np.float32(factor)
        if permute and n_head and module.endswith("q_proj"):
            b = permute_rows(b, n_head, n_head)
        elif permute and n_head and module.endswith("k_proj"):
            b = permute_rows(b, n_head, n_kv_head)
        tensors.append((gguf_name + ".lora_a", np.ascontiguousarray(a, dtype=np.float32)))
        tensors.append((gguf_name + ".lora_b", np.ascontiguousarray(b, dtype=np.float32)))

    writer = gguf.GGUFWriter(str(dest), arch_name)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        if name:
            writer.add_name(name)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        for tensor_name, data in tensors:
            writer.add_tensor(tensor_name, data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    layers = {m.group(1) for m in (re.search(r"\.layers\.(\d+)\.", module) for module in pairs) if m}
    return {"file": dest.name, "architecture": arch_name, "lora_alpha": alpha, "tensors": len(tensors),
            "layers": len(layers), "modules": len(pairs)}
