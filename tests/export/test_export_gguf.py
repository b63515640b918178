"""GGUF LoRA export: adapter.gguf is what llama.cpp's loader expects, and the Modelfile points Ollama at the right file.

Tiny Llama, Qwen2 and Gemma bases (h32, 2 layers, 4 heads, 2 KV heads) with a LoRA on every linear layer, built with
PEFT directly (random lora_B, so the numbers are not all zero). The expected GGUF names, orientation and Llama q/k row
permutation are llama.cpp's (convert_lora_to_gguf.py, llama_adapter_lora_init), written out here, not taken from
the code under test.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml

LAYERS = 2
KINDS = ["llama", "qwen2", "gemma"]  # gemma: tied embeddings, no q/k permutation
# HF module -> llama.cpp tensor, for Llama, Qwen2 and Gemma alike.
LLAMA_CPP = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
N_HEAD, N_KV_HEAD = 4, 2


def tiny_config(kind: str):
    from transformers import GemmaConfig, GPTNeoXConfig, LlamaConfig, Qwen2Config

    common = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=LAYERS, num_attention_heads=N_HEAD,
                  vocab_size=128)
    if kind == "llama":
        return LlamaConfig(num_key_value_heads=N_KV_HEAD, **common)
    if kind == "qwen2":
        return Qwen2Config(num_key_value_heads=N_KV_HEAD, **common)
    if kind == "gemma":
        return GemmaConfig(num_key_value_heads=N_KV_HEAD, head_dim=8, **common)
    return GPTNeoXConfig(**common)


def build(root: Path, kind: str, **lora) -> dict:
    """A tiny base saved under root/<kind>-base and a LoRA on all its linear layers under root/<kind>-lora.

    Returns the folders, the base's weight shapes and PEFT's own delta (scaling included) of every adapted layer.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base_dir, lora_dir = root / f"{kind}-base", root / f"{kind}-lora"
    model = AutoModelForCausalLM.from_config(tiny_config(kind))
    model.save_pretrained(str(base_dir))
    shapes = {k.removesuffix(".weight"): tuple(v.shape) for k, v in model.state_dict().items()}
    kw = dict(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False) | lora
    peft_model = get_peft_model(model, LoraConfig(**kw))
    peft_model.save_pretrained(str(lora_dir))
    deltas = {name.removeprefix("base_model.model."): m.get_delta_weight("default").detach().numpy()
              for name, m in peft_model.named_modules() if isinstance(m, LoraLayer)}
    return {"base": base_dir, "adapter": lora_dir, "shapes": shapes, "deltas": deltas,
            "config": json.loads((base_dir / "config.json").read_text())}


def write(built: dict, dest: Path) -> Path:
    from export.gguf_lora import write_gguf_lora

    write_gguf_lora(built["adapter"], built["config"], dest, name="test")
    return dest


def peft_tensors(adapter: Path) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    return {k.removeprefix("base_model.model."): v.float().numpy()
            for k, v in load_file(str(adapter / "adapter_model.safetensors")).items()}


def llama_cpp_name(module: str) -> str:
    """model.layers.1.mlp.up_proj -> blk.1.ffn_up.weight"""
    _, _, bid, rest = module.split(".", 3)
    return f"blk.{bid}.{LLAMA_CPP[rest]}.weight"


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute (rotary layout of q_proj/k_proj rows)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read(path: Path) -> tuple[dict, dict]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return fields, {t.name: t for t in reader.tensors}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("gguf")
    out = {}
    for kind in KINDS:
        b = build(root, kind)
        b["gguf"] = write(b, root / f"{kind}.gguf")
        out[kind] = b
    return out


# --- the file llama.cpp reads -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_gguf_metadata_marks_a_lora_adapter_for_the_base_architecture(built, kind):
    fields, _ = read(built[kind]["gguf"])
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == kind
    assert fields["adapter.lora.alpha"] == pytest.approx(8.0)  # lora_alpha


@pytest.mark.parametrize("kind", KINDS)
def test_gguf_holds_lora_a_and_lora_b_for_every_adapted_linear_layer(built, kind):
    _, tensors = read(built[kind]["gguf"])
    want = {f"blk.{i}.{t}.weight.lora_{x}" for i in range(LAYERS) for t in LLAMA_CPP.values() for x in "ab"}
    assert set(tensors) == want
    assert len(peft_tensors(built[kind]["adapter"])) == len(want)  # one GGUF tensor per PEFT tensor


@pytest.mark.parametrize("kind", KINDS)
def test_gguf_shapes_are_in_the_orientation_llama_cpp_checks(built, kind):
    """ne(lora_a) = (in, r), ne(lora_b) = (r, out) against ne(W) = (in, out) of the base weight W (out x in)."""
    import gguf

    _, tensors = read(built[kind]["gguf"])
    for module in built[kind]["deltas"]:
        out_f, in_f = built[kind]["shapes"][module]
        a, b = tensors[llama_cpp_name(module) + ".lora_a"], tensors[llama_cpp_name(module) + ".lora_b"]
        assert [int(x) for x in a.shape] == [in_f, 4], module
        assert [int(x) for x in b.shape] == [4, out_f], module
        assert a.tensor_type == b.tensor_type == gguf.GGMLQuantizationType.F32


def test_qwen2_gguf_numbers_equal_the_peft_safetensors(built):
    _, tensors = read(built["qwen2"]["gguf"])
    peft = peft_tensors(built["qwen2"]["adapter"])
    for module in built["qwen2"]["deltas"]:
        name = llama_cpp_name(module)
        np.testing.assert_array_equal(tensors[name + ".lora_a"].data, peft[module + ".lora_A.weight"])
        np.testing.assert_array_equal(tensors[name + ".lora_b"].data, peft[module + ".lora_B.weight"])


def test_llama_gguf_numbers_equal_the_peft_safetensors_with_q_and_k_rows_permuted(built):
    _, tensors = read(built["llama"]["gguf"])
    peft = peft_tensors(built["llama"]["adapter"])
    heads = {"self_attn.q_proj": N_HEAD, "self_attn.k_proj": N_KV_HEAD}
    for module in built["llama"]["deltas"]:
        name, a, b = llama_cpp_name(module), peft[module + ".lora_A.weight"], peft[module + ".lora_B.weight"]
        n = heads.get(module.split(".", 3)[3])
        np.testing.assert_array_equal(tensors[name + ".lora_a"].data, a)
        np.testing.assert_array_equal(tensors[name + ".lora_b"].data, permute_rows(b, n) if n else b)
    q = "model.layers.0.self_attn.q_proj"
    assert not np.array_equal(tensors[llama_cpp_name(q) + ".lora_b"].data, peft[q + ".lora_B.weight"])


@pytest.mark.parametrize("kind", KINDS)
def test_gguf_reproduces_peft_delta_in_the_base_gguf_layout(built, kind):
    """What llama.cpp adds to W, alpha / rank * lora_b @ lora_a, is PEFT's delta in convert_hf_to_gguf's layout."""
    fields, tensors = read(built[kind]["gguf"])
    alpha = float(fields["adapter.lora.alpha"])
    for module, delta in built[kind]["deltas"].items():
        a, b = tensors[llama_cpp_name(module) + ".lora_a"].data, tensors[llama_cpp_name(module) + ".lora_b"].data
        n = {"self_attn.q_proj": N_HEAD, "self_attn.k_proj": N_KV_HEAD}.get(module.split(".", 3)[3])
        want = permute_rows(delta, n) if kind == "llama" and n else delta
        np.testing.assert_allclose(alpha / b.shape[1] * b @ a, want, rtol=1e-5, atol=1e-6, err_msg=module)


def test_rslora_and_alpha_pattern_scaling_is_kept(tmp_path):
    """llama.cpp scales every pair by alpha / rank: rsLoRA's alpha / sqrt(r) and per-module alphas still come out."""
    b = build(tmp_path, "qwen2", use_rslora=True, alpha_pattern={"down_proj": 2}, rank_pattern={"up_proj": 8})
    fields, tensors = read(write(b, tmp_path / "a.gguf"))
    alpha = float(fields["adapter.lora.alpha"])
    for module, delta in b["deltas"].items():
        a, bb = tensors[llama_cpp_name(module) + ".lora_a"].data, tensors[llama_cpp_name(module) + ".lora_b"].data
        np.testing.assert_allclose(alpha / bb.shape[1] * bb @ a, delta, rtol=1e-5, atol=1e-6, err_msg=module)
    assert int(tensors["blk.0.ffn_up.weight.lora_b"].shape[0]) == 8


def test_a_base_without_a_gguf_mapping_is_unsupported_and_writes_nothing(built, tmp_path):
    from export.gguf_lora import Unsupported, write_gguf_lora

    cfg = dict(built["qwen2"]["config"], architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox")
    with pytest.raises(Unsupported, match="GPTNeoXForCausalLM"):
        write_gguf_lora(built["qwen2"]["adapter"], cfg, tmp_path / "a.gguf")
    assert not (tmp_path / "a.gguf").exists()


def test_a_dora_adapter_is_unsupported(built, tmp_path):
    from export.gguf_lora import Unsupported, write_gguf_lora

    adapter = tmp_path / "dora"
    shutil.copytree(built["qwen2"]["adapter"], adapter)
    acfg = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps(acfg | {"use_dora": True}))
    with pytest.raises(Unsupported, match="DoRA"):
        write_gguf_lora(adapter, built["qwen2"]["config"], tmp_path / "a.gguf")


# --- `python -m export` on a non-Llama base ---------------------------------------------------------------------

def export_in(root: Path, built: dict, base_name: str, argv_extra=()) -> tuple[int, str, Path]:
    """An export root whose configured base is the relative folder `base_name` (a link to built's base), with
    built's adapter as serpent's trained adapter (base recorded as its resolved path, as training records it)."""
    from export.bundle import main
    from core.models import resolve_base

    (root / base_name).symlink_to(built["base"].resolve(), target_is_directory=True)
    cfg = {"paths": {k: str(root / k) for k in ("data", "outputs", "reports", "exports")},
           "model": {"model_name_or_path": base_name}}
    (root / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    src = root / "outputs" / "serpent" / "adapter"
    shutil.copytree(built["adapter"], src)
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(io.StringIO()) as buf:
        mp.chdir(root)
        acfg = json.loads((src / "adapter_config.json").read_text())
        acfg["base_model_name_or_path"] = resolve_base(base_name)
        (src / "adapter_config.json").write_text(json.dumps(acfg))
        rc = main(["serpent", "--overlay", str(root / "overlay.yaml"), *argv_extra])
    return rc, buf.getvalue(), root / "exports" / "serpent"


def test_export_on_a_qwen2_base_writes_adapter_gguf_and_points_the_modelfile_at_it(built, tmp_path):
    rc, out, exp = export_in(tmp_path, built["qwen2"], "qwen-base")
    assert rc == 0, out
    modelfile = (exp / "Modelfile").read_text()
    assert "\nFROM ../../qwen-base\n" in modelfile and modelfile.endswith("\nADAPTER ./adapter.gguf\n")
    assert "ollama create serpent " in modelfile
    fields, tensors = read(exp / "adapter.gguf")
    assert fields["general.architecture"] == "qwen2" and len(tensors) == 2 * 7 * LAYERS
    manifest = json.loads((exp / "manifest.json").read_text())
    assert manifest["files"]["adapter.gguf"] == hashlib.sha256((exp / "adapter.gguf").read_bytes()).hexdigest()
    assert manifest["gguf"]["architecture"] == "qwen2" and manifest["ollama_adapter"] == "./adapter.gguf"
    assert manifest["base_architecture"] == "Qwen2ForCausalLM"
    assert "no adapter.gguf" not in out


def test_export_on_a_base_without_gguf_mapping_says_so_in_one_line_and_skips_the_file(tmp_path):
    b = build(tmp_path / "built", "gpt_neox")
    (tmp_path / "root").mkdir()
    rc, out, exp = export_in(tmp_path / "root", b, "neox-base")
    assert rc == 0, out
    notes = [line for line in out.splitlines() if "adapter.gguf:" in line]
    assert len(notes) == 1 and "GPTNeoXForCausalLM" in notes[0] and "no Modelfile" in notes[0]
    assert sorted(p.name for p in exp.iterdir()) == ["adapter", "manifest.json"]
    manifest = json.loads((exp / "manifest.json").read_text())
    assert "GPTNeoXForCausalLM" in manifest["gguf"]["skipped"] and manifest["ollama_adapter"] is None


# --- the Modelfile for a Hub-id base ----------------------------------------------------------------------------------

def test_modelfile_for_a_hub_id_base_says_how_to_get_the_base_into_ollama():
    from export.bundle import modelfile

    text = modelfile("serpent", "Qwen/Qwen2.5-Coder-1.5B-Instruct", Path("exports/serpent"), "./adapter.gguf")
    assert "\nFROM Qwen/Qwen2.5-Coder-1.5B-Instruct\nADAPTER ./adapter.gguf\n" in text
    assert "hf download Qwen/Qwen2.5-Coder-1.5B-Instruct --local-dir" in text
    assert all(line.startswith("#") for line in text.splitlines()[:-2])
