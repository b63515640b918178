"""Export: `python -m export NAME` packages a trained adapter for serving (exports/<name>/, serve_vllm.sh).

The module trains serpent once (2 steps) under a private root whose base is configured as the relative path `base`
(a link to the tiny base, like the demo's `demo/base`), evaluates it, and exports it. The working directory is that
root for the whole module, so the configured base string resolves as it would for a user.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

NAME = "serpent"
PROBE = "def main():\n    return 42\n<|im_start|>assistant\nfn main() {}"


def export_main(argv, capsys=None) -> tuple[int, str, str]:
    from export.bundle import main

    if capsys is None:
        with redirect_stdout(io.StringIO()) as buf:
            rc = main(argv)
        return rc, buf.getvalue(), ""
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


@pytest.fixture(scope="module")
def exported(workspace, tmp_path_factory):
    from eval.__main__ import main as eval_main
    from train.__main__ import main as train_main

    root = tmp_path_factory.mktemp("export")
    (root / "base").symlink_to(Path(workspace["base"]).resolve(), target_is_directory=True)
    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    cfg["model"]["model_name_or_path"] = "base"
    cfg["sft"]["max_steps"] = 2
    (root / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    overlay = str(root / "overlay.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with redirect_stdout(io.StringIO()):
            assert train_main([NAME, "--overlay", overlay]) == 0
            assert eval_main([NAME, "--overlay", overlay]) == 0
        rc, out, _ = export_main([NAME, "--overlay", overlay])
        assert rc == 0
        yield {"root": root, "overlay": overlay, "stdout": out, "exports": root / "exports",
               "out": root / "exports" / NAME, "src": root / "outputs" / NAME / "adapter", "base": workspace["base"]}


@pytest.fixture
def private(exported, tmp_path, monkeypatch):
    """A private root with copies of the trained adapter and of the export, the same `base` link, and cwd there."""
    root = tmp_path
    (root / "base").symlink_to(Path(exported["base"]).resolve(), target_is_directory=True)
    cfg = yaml.safe_load(Path(exported["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    (root / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    shutil.copytree(exported["root"] / "outputs", root / "outputs")
    shutil.copytree(exported["exports"], root / "exports")
    monkeypatch.chdir(root)
    return {"root": root, "overlay": str(root / "overlay.yaml"), "out": root / "exports" / NAME,
            "src": root / "outputs" / NAME / "adapter", "exports": root / "exports", "base": exported["base"]}


def logits(model, tok):
    import torch

    with torch.no_grad():
        return model(**tok(PROBE, return_tensors="pt")).logits.float()


@pytest.fixture(scope="module")
def tok(exported):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(exported["base"]))


def base_model(exported):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(exported["base"])).eval()


# --- what an export holds ---------------------------------------------------------------------------------------------

def test_export_writes_the_adapter_tokenizer_chat_template_and_model_card(exported):
    adapter = exported["out"] / "adapter"
    for f in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "chat_template.jinja", "README.md", "metrics.png"):
        assert (adapter / f).is_file(), f
    assert sorted(p.name for p in exported["out"].iterdir()) == ["Modelfile", "adapter", "adapter.gguf",
                                                                 "manifest.json"]


def test_exported_adapter_names_the_configured_base_not_a_machine_path(exported):
    acfg = json.loads((exported["out"] / "adapter" / "adapter_config.json").read_text())
    assert acfg["base_model_name_or_path"] == "base"
    # the trained adapter itself keeps the resolved path that eval and export check against
    src = json.loads((exported["src"] / "adapter_config.json").read_text())
    assert src["base_model_name_or_path"] == str(Path(exported["base"]).resolve())


def test_exported_adapter_keeps_the_weights_and_tokenizer_byte_for_byte(exported):
    for f in ("adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (exported["out"] / "adapter" / f).read_bytes() == (exported["src"] / f).read_bytes()


def test_model_card_front_matter_names_the_base_and_peft(exported):
    meta = front_matter((exported["out"] / "adapter" / "README.md").read_text())
    assert meta["base_model"] == "base"
    assert meta["library_name"] == "peft"
    assert "python" in meta["tags"] and "lora" in meta["tags"]


def test_model_card_carries_the_evaluation_report(exported):
    card = (exported["out"] / "adapter" / "README.md").read_text()
    report = json.loads((exported["root"] / "reports" / NAME / "eval.json").read_text())
    assert "| assistant-token loss |" in card and str(report["adapter"]["loss"]) in card
    assert "Not evaluated yet" not in card


def test_model_card_shows_the_report_plot_which_travels_with_it(exported):
    card = (exported["out"] / "adapter" / "README.md").read_text()
    assert "](metrics.png)" in card
    plot = exported["root"] / "reports" / NAME / "metrics.png"
    assert (exported["out"] / "adapter" / "metrics.png").read_bytes() == plot.read_bytes()


def test_model_card_drops_the_plot_link_when_the_report_has_no_plot(private, exported):
    reports = private["root"] / "reports" / NAME
    reports.mkdir(parents=True)
    shutil.copy2(exported["root"] / "reports" / NAME / "eval.md", reports / "eval.md")  # the report, not its PNG
    assert export_main([NAME, "--overlay", private["overlay"], "--force"])[0] == 0
    card = (private["out"] / "adapter" / "README.md").read_text()
    assert "| assistant-token loss |" in card and "metrics.png" not in card
    assert not (private["out"] / "adapter" / "metrics.png").exists()


def test_manifest_checksums_match_every_exported_file(exported):
    manifest = json.loads((exported["out"] / "manifest.json").read_text())
    files = manifest["files"]
    adapter_files = {f"adapter/{k}" for k in tree_digest(exported["out"] / "adapter")}
    assert adapter_files <= set(files)
    for rel, digest in files.items():
        assert hashlib.sha256((exported["out"] / rel).read_bytes()).hexdigest() == digest, rel


def test_manifest_records_base_rank_and_provenance(exported):
    m = json.loads((exported["out"] / "manifest.json").read_text())
    summary = json.loads((exported["root"] / "outputs" / NAME / "training_summary.json").read_text())
    assert m["specialist"] == NAME and m["language"] == "python"
    assert m["base_model"] == "base" and m["lora_rank"] == 16
    assert m["data_fingerprint"] == summary["data_fingerprint"]
    assert m["merged_logits_max_abs_diff"] is None
    assert m["code_version"] and m["exported_at"]


def test_modelfile_builds_the_base_with_the_adapter(exported):
    text = (exported["out"] / "Modelfile").read_text()
    assert "\nFROM ../../base\n" in text and "\nADAPTER ./adapter\n" in text  # from the Modelfile's folder


def test_gguf_adapter_holds_every_lora_pair_of_the_trained_adapter_for_llama_cpp(exported):
    import gguf
    from safetensors import safe_open

    llama_cpp = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
                 "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    with safe_open(str(exported["src"] / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())  # base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
    want = {f"blk.{k.split('.')[4]}.{llama_cpp[k.split('.')[6]]}.weight.lora_{k.split('.')[7][-1].lower()}"
            for k in keys}
    reader = gguf.GGUFReader(str(exported["out"] / "adapter.gguf"))
    assert {t.name for t in reader.tensors} == want and len(want) == len(keys) == 2 * 7 * 2
    acfg = json.loads((exported["src"] / "adapter_config.json").read_text())
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(acfg["lora_alpha"])
    manifest = json.loads((exported["out"] / "manifest.json").read_text())
    assert manifest["gguf"]["architecture"] == "llama" and "adapter.gguf" in manifest["files"]
    assert manifest["ollama_adapter"] == "./adapter"  # Ollama converts a Llama base's safetensors adapter itself


def test_export_prints_one_line_and_the_serving_recipes(exported):
    lines = exported["stdout"].strip().splitlines()
    assert lines[0].startswith(f"export {NAME}: ") and str(exported["out"]) in lines[0]
    assert "serve_vllm.sh" in lines[-2]
    assert lines[-1].startswith("agents: ") and "agents" in lines[-1]


# --- the exported adapter serves the same model ------------------------------------------------------------------------

def test_exported_adapter_gives_the_same_logits_as_the_trained_one(exported, tok):
    import torch
    from peft import PeftModel

    trained = logits(PeftModel.from_pretrained(base_model(exported), str(exported["src"])), tok)
    shipped = logits(PeftModel.from_pretrained(base_model(exported), str(exported["out"] / "adapter")), tok)
    assert torch.equal(trained, shipped)
    assert not torch.allclose(trained, logits(base_model(exported), tok))  # the adapter does something


def test_exported_adapter_loads_by_itself_where_the_configured_base_resolves(exported, tok):
    """The model card's recipe: AutoPeftModelForCausalLM finds the base through the recorded `base`."""
    import torch
    from peft import AutoPeftModelForCausalLM, PeftModel

    model = AutoPeftModelForCausalLM.from_pretrained(str(exported["out"] / "adapter"))
    want = logits(PeftModel.from_pretrained(base_model(exported), str(exported["src"])), tok)
    assert torch.equal(logits(model, tok), want)


# --- several specialists: serve_vllm.sh ---------------------------------------------------------------------------------

def test_serve_vllm_names_every_exported_adapter(private):
    """A second specialist (forge, a copy of serpent's adapter: same base) exported later joins the first."""
    shutil.copytree(private["src"], private["root"] / "outputs" / "forge" / "adapter")
    rc, out, _ = export_main(["forge", "--overlay", private["overlay"]])
    assert rc == 0
    script = (private["exports"] / "serve_vllm.sh").read_text()
    assert 'vllm serve "$here/../base" ' in script and "--enable-lora" in script and "--max-loras 2" in script
    assert "--max-lora-rank 16" in script
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in script  # the tiny base's <tool_call> template
    for name in ("forge", NAME):
        assert f'{name}="$here/{name}/adapter"' in script  # from the script's own folder
        modelfile = (private["exports"] / name / "Modelfile").read_text()
        assert f"ollama create {name} " in modelfile and "\nFROM ../../base\n" in modelfile


def test_serve_vllm_max_lora_rank_covers_the_largest_adapter_rank(tmp_path):
    from export.bundle import serving_recipes

    manifests = [{"specialist": "serpent", "lora_rank": 16, "lora_max_rank": 16},
                 {"specialist": "forge", "lora_rank": 16, "lora_max_rank": 48},  # a rank_pattern layer at 48
                 {"specialist": "prism", "lora_rank": 8}]
    serving_recipes(tmp_path, "Qwen/Qwen2.5-Coder-1.5B-Instruct", manifests)
    script = (tmp_path / "serve_vllm.sh").read_text()
    assert "--max-lora-rank 64" in script and "--max-loras 3" in script
    assert "vllm serve Qwen/Qwen2.5-Coder-1.5B-Instruct " in script
    for name in ("serpent", "forge", "prism"):
        assert f'{name}="$here/{name}/adapter"' in script
    # no adapter folder here, so no chat template to read the tool-call format from: the script says so
    assert "--tool-call-parser" not in script.split("exec")[1] and "No vLLM tool-call parser is known" in script


@pytest.mark.parametrize("template, parser", [
    ('{{- "<tool_call>\\n" + tool_call | tojson + "\\n</tool_call>" }}', "hermes"),
    ("{{- '<tool_call>\\n<function=' + tool_call.name + '>\\n' }}", "qwen3_coder"),
    ('{{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}{"name": ..., "parameters": ...}', "llama3_json"),
    ("{{- '[TOOL_CALLS][' }}", "mistral"),
    ("<|start|>assistant<|channel|>commentary to=functions.x", "openai"),
    ("{{ message.content }}", None),
    (None, None),
])
def test_vllm_tool_parser_follows_the_chat_templates_tool_call_format(template, parser):
    from export.bundle import vllm_tool_parser

    assert vllm_tool_parser(template) == parser


def test_no_manifest_writes_no_serving_script_and_leaves_the_present_one(tmp_path):
    from export.bundle import serving_recipes

    (tmp_path / "serve_vllm.sh").write_text("exec vllm serve base\n")
    assert serving_recipes(tmp_path, "base", []) == []
    assert (tmp_path / "serve_vllm.sh").read_text() == "exec vllm serve base\n"


def test_adapters_of_several_bases_get_one_serving_script_per_base(tmp_path):
    from export.bundle import serving_recipes

    (tmp_path / "serve_vllm.sh").write_text("stale: every adapter on one base\n")
    manifests = [{"specialist": "serpent", "lora_rank": 16, "base_model": "Qwen/Qwen2.5-Coder-1.5B-Instruct"},
                 {"specialist": "forge", "lora_rank": 16, "base_model": "meta-llama/Llama-3.2-3B-Instruct"},
                 {"specialist": "prism", "lora_rank": 32, "base_model": "Qwen/Qwen2.5-Coder-1.5B-Instruct"}]
    scripts = serving_recipes(tmp_path, "unused", manifests)
    assert sorted(p.name for p in tmp_path.glob("serve_vllm*.sh")) == sorted(p.name for p in scripts) == [
        "serve_vllm-Qwen_Qwen2.5-Coder-1.5B-Instruct.sh", "serve_vllm-meta-llama_Llama-3.2-3B-Instruct.sh"]
    qwen = (tmp_path / "serve_vllm-Qwen_Qwen2.5-Coder-1.5B-Instruct.sh").read_text()
    assert "vllm serve Qwen/Qwen2.5-Coder-1.5B-Instruct " in qwen and "--max-loras 2 --max-lora-rank 32" in qwen
    assert "serpent=" in qwen and "prism=" in qwen and "forge=" not in qwen
    llama = (tmp_path / "serve_vllm-meta-llama_Llama-3.2-3B-Instruct.sh").read_text()
    assert "vllm serve meta-llama/Llama-3.2-3B-Instruct " in llama and "--max-loras 1" in llama and "forge=" in llama


def test_export_all_exports_every_trained_specialist(private):
    shutil.copytree(private["src"], private["root"] / "outputs" / "forge" / "adapter")
    shutil.rmtree(private["out"])
    rc, out, _ = export_main(["--all", "--overlay", private["overlay"]])
    assert rc == 0
    assert sorted(p.name for p in private["exports"].iterdir() if p.is_dir()) == ["agents", "forge", NAME]
    opencode = json.loads((private["exports"] / "agents" / "opencode.json").read_text())
    assert {"forge", NAME} <= set(opencode["provider"]["workbench"]["models"])  # the agent configs name both


def test_model_card_of_an_unevaluated_adapter_says_so(private):
    shutil.copytree(private["src"], private["root"] / "outputs" / "forge" / "adapter")
    assert export_main(["forge", "--overlay", private["overlay"]])[0] == 0
    card = (private["exports"] / "forge" / "adapter" / "README.md").read_text()
    assert "Not evaluated yet (`make eval NAME=forge`)" in card
    assert front_matter(card)["base_model"] == "base"


# --- --merged -----------------------------------------------------------------------------------------------------------

def test_merged_export_matches_base_plus_adapter(private, tok):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    rc, out, _ = export_main([NAME, "--overlay", private["overlay"], "--merged", "--force"])
    assert rc == 0
    merged_dir = private["out"] / "merged"
    for f in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (merged_dir / f).is_file(), f
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    want = logits(PeftModel.from_pretrained(base_model(private), str(private["src"])), tok)
    assert torch.allclose(logits(merged, tok), want, atol=1e-4)
    manifest = json.loads((private["out"] / "manifest.json").read_text())
    assert 0 <= manifest["merged_logits_max_abs_diff"] <= 1e-4
    assert "merged/model.safetensors" in manifest["files"]


# --- replacing an export ----------------------------------------------------------------------------------------------

def _one_error_line(err: str) -> str:
    """The one line the user reads (transformers' own 'Loading weights' progress bar aside)."""
    lines = [l for l in err.replace("\r", "\n").splitlines() if l.strip() and not l.startswith("Loading weights")]
    assert len(lines) == 1, err
    assert lines[0].startswith("export: error: ")
    return lines[0]


def test_existing_export_without_force_exits_2_and_is_left_alone(private, capsys):
    before = tree_digest(private["out"])
    rc, out, err = export_main([NAME, "--overlay", private["overlay"]], capsys)
    assert rc == 2
    assert "--force" in _one_error_line(err)
    assert tree_digest(private["out"]) == before


def test_force_replaces_an_existing_export(private):
    (private["out"] / "stale.txt").write_text("from an earlier export")
    rc, out, _ = export_main([NAME, "--overlay", private["overlay"], "--force"])
    assert rc == 0
    assert not (private["out"] / "stale.txt").exists()
    assert (private["out"] / "adapter" / "adapter_model.safetensors").is_file()
    assert not [p.name for p in private["exports"].iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


def test_failure_mid_export_leaves_the_previous_export_intact(private, monkeypatch):
    import export.bundle

    before = tree_digest(private["out"])

    def crash(*a, **k):
        raise OSError("simulated disk full")

    monkeypatch.setattr(export.bundle, "_sha256", crash)  # after the adapter is copied, before the swap
    with pytest.raises(OSError, match="disk full"):
        export_main([NAME, "--overlay", private["overlay"], "--force"])
    assert tree_digest(private["out"]) == before
    assert not [p.name for p in private["exports"].iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


def test_a_full_disk_mid_export_is_one_line_naming_the_export_and_the_previous_export_stays(private, capsys,
                                                                                            monkeypatch):
    import errno

    import export.bundle

    before = tree_digest(private["out"])

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export.bundle, "_sha256", full)
    rc, out, err = export_main([NAME, "--overlay", private["overlay"], "--force"], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert "no space left on device" in line and str(private["out"]) in line
    assert tree_digest(private["out"]) == before
    assert not [p.name for p in private["out"].iterdir() if p.name.startswith(".")]


def test_a_second_export_of_the_same_specialist_is_refused_naming_the_first(private, capsys):
    from lock_support import held

    before = tree_digest(private["out"])
    with held(private["out"], "export serpent") as pid:
        rc, out, err = export_main([NAME, "--overlay", private["overlay"], "--force"], capsys)
    assert rc == 2
    assert f"pid {pid}" in _one_error_line(err)
    assert tree_digest(private["out"]) == before


def test_failed_merge_check_exits_2_and_leaves_the_previous_export_intact(private, capsys, monkeypatch):
    import export.bundle

    before = tree_digest(private["out"])
    monkeypatch.setattr(export.bundle, "MERGE_ATOL", -1.0)  # no merge can pass
    rc, out, err = export_main([NAME, "--overlay", private["overlay"], "--merged", "--force"], capsys)
    assert rc == 2
    assert "merged" in _one_error_line(err)
    assert tree_digest(private["out"]) == before
    assert not [p.name for p in private["exports"].iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


# --- errors -----------------------------------------------------------------------------------------------------------

def test_export_without_a_trained_adapter_exits_2(private, capsys):
    rc, out, err = export_main(["forge", "--overlay", private["overlay"]], capsys)
    assert rc == 2
    assert "make train NAME=forge" in _one_error_line(err)
    assert not (private["exports"] / "forge").exists()


def test_export_all_without_any_adapter_exits_2(private, capsys):
    shutil.rmtree(private["root"] / "outputs")
    rc, out, err = export_main(["--all", "--overlay", private["overlay"]], capsys)
    assert rc == 2
    _one_error_line(err)


def test_export_whose_base_folder_is_gone_exits_2_and_leaves_the_previous_export(private, capsys):
    before = tree_digest(private["out"])
    (private["root"] / "base").unlink()  # the configured base `base` (a link) no longer exists
    rc, out, err = export_main([NAME, "--overlay", private["overlay"], "--force"], capsys)
    assert rc == 2
    assert "base cannot be found" in _one_error_line(err)
    assert tree_digest(private["out"]) == before
    assert not [p.name for p in private["exports"].iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


def test_export_whose_hub_base_is_not_in_the_offline_cache_exits_2(private, capsys):
    hub_id = "nobody-here/no-such-base"
    cfg_path = private["src"] / "adapter_config.json"
    cfg_path.write_text(json.dumps(json.loads(cfg_path.read_text()) | {"base_model_name_or_path": hub_id}))
    cfg = yaml.safe_load(Path(private["overlay"]).read_text())
    cfg["model"]["model_name_or_path"] = hub_id
    Path(private["overlay"]).write_text(yaml.safe_dump(cfg))
    shutil.rmtree(private["out"])
    rc, out, err = export_main([NAME, "--overlay", private["overlay"]], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert hub_id in line and "cannot be found" in line
    assert not private["out"].exists()


def test_export_of_an_adapter_trained_on_another_base_exits_2(private, capsys):
    cfg_path = private["src"] / "adapter_config.json"
    acfg = json.loads(cfg_path.read_text())
    acfg["base_model_name_or_path"] = "/models/some-other-base"
    cfg_path.write_text(json.dumps(acfg))
    rc, out, err = export_main([NAME, "--overlay", private["overlay"], "--force"], capsys)
    assert rc == 2
    assert "/models/some-other-base" in _one_error_line(err)
