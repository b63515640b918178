"""GPU switches, logging backends and the loss path: what works on a CPU, and one clear line for what cannot.

bitsandbytes, liger-kernel, flash-attn, tensorboard, trackio and wandb are not installed here, and there is no GPU:
each switch that needs one of them must stop the run before any dataset or model is loaded.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from train_support import NAME, overlay_copy, run_train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def nothing_loads(monkeypatch):
    """Fails the test if a dataset or a model is loaded."""
    import core.models
    import train.sft

    monkeypatch.setattr(core.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    monkeypatch.setattr(train.sft, "load_splits", lambda *a, **k: pytest.fail("a dataset was loaded"))


def one_error(workspace, tmp_path, capsys, *overrides: str, flags: tuple[str, ...] = ()) -> str:
    rc, out, err = run_train([NAME, "--overlay", overlay_copy(workspace, tmp_path), *flags, *overrides], capsys)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"train: error: {NAME}: ")
    assert not (tmp_path / "outputs").exists()
    return lines[0]


@pytest.mark.parametrize("backend", ["tensorboard", "trackio", "wandb"])
def test_report_to_a_backend_that_is_not_installed_stops_with_one_line(workspace, tmp_path, capsys, nothing_loads,
                                                                        backend):
    line = one_error(workspace, tmp_path, capsys, f"report_to={backend}")
    assert f"sft.report_to={backend}" in line and "not installed" in line and f"pip install {backend}" in line


def test_report_to_a_list_is_checked_item_by_item(workspace, tmp_path, capsys, nothing_loads):
    assert "sft.report_to=wandb" in one_error(workspace, tmp_path, capsys, "report_to=[none, wandb]")


def test_report_to_an_unknown_backend_stops_with_one_line(workspace, tmp_path, capsys, nothing_loads):
    assert "not a logging backend" in one_error(workspace, tmp_path, capsys, "report_to=tensorbored")


def test_qlora_without_a_gpu_and_bitsandbytes_stops_with_one_line(workspace, tmp_path, capsys, nothing_loads):
    line = one_error(workspace, tmp_path, capsys, "model.load_in_4bit=true")
    assert "model.load_in_4bit (QLoRA) needs a CUDA GPU" in line and "pip install bitsandbytes" in line


def test_8bit_loading_is_checked_the_same_way(workspace, tmp_path, capsys, nothing_loads):
    assert "model.load_in_8bit" in one_error(workspace, tmp_path, capsys, "model.load_in_8bit=true")


def test_liger_kernels_without_liger_kernel_installed_stop_with_one_line(workspace, tmp_path, capsys, nothing_loads):
    line = one_error(workspace, tmp_path, capsys, "use_liger_kernel=true")
    assert "sft.use_liger_kernel needs" in line and "pip install liger-kernel" in line


def test_flash_attention_without_flash_attn_stops_with_one_line(workspace, tmp_path, capsys, nothing_loads):
    line = one_error(workspace, tmp_path, capsys, "model.attn_implementation=flash_attention_2")
    assert "flash-attn" in line


def test_a_value_sftconfig_rejects_stops_with_one_line(workspace, tmp_path, capsys, nothing_loads):
    line = one_error(workspace, tmp_path, capsys, "lr_scheduler_type=bogus")
    assert "not a valid SFTConfig" in line and "bogus is not a valid SchedulerType" in line


def test_switches_are_checked_for_dry_run_and_inspect_too(workspace, tmp_path, capsys, nothing_loads):
    assert "pip install wandb" in one_error(workspace, tmp_path, capsys, "report_to=wandb", flags=("--dry-run",))
    assert "pip install wandb" in one_error(workspace, tmp_path, capsys, "report_to=wandb", flags=("--inspect",))


def test_packing_auto_stays_off_without_flash_attention(workspace, tmp_path, capsys):
    rc, out, err = run_train([NAME, "--dry-run", "--overlay", overlay_copy(workspace, tmp_path), "packing=auto"], capsys)
    assert rc == 0, err
    resolved = yaml.safe_load(out.split("resolved configuration\n", 1)[1].split("\ndataset ", 1)[0])
    assert resolved["sft"]["packing"] is False and not resolved["model"].get("attn_implementation")


def test_packing_auto_packs_with_flash_attention_where_it_is_available(monkeypatch):
    import train.sft

    monkeypatch.setattr(train.sft, "flash_attention", lambda: "flash_attention_2")
    cfg = {"sft": {"packing": "auto"}, "model": {}}
    train.sft.resolve_packing(cfg)
    assert cfg == {"sft": {"packing": True}, "model": {"attn_implementation": "flash_attention_2"}}


def test_the_shipped_defaults_pack_only_where_flash_attention_is(workspace):
    from train.sft import load_specialist


    assert yaml.safe_load((REPO / "configs" / "defaults.yaml").read_text())["sft"]["packing"] == "auto"
    assert load_specialist(NAME, workspace["overlay"], []).config["sft"]["packing"] is False  # no GPU here


# --- the loss on a CPU ----------------------------------------------------------------------------------------------

def short_run(workspace, tmp_path, fused: bool):
    from core.models import load_model, load_tokenizer
    from train.sft import load_specialist, load_splits, lora_config, sft_config
    from train.trainer import SpecialistTrainer

    sp = load_specialist(NAME, workspace["overlay"], [])
    args = sft_config(sp, tmp_path / ("fused" if fused else "plain"), max_steps=2, logging_steps=1,
                      save_strategy="no", disable_tqdm=True)
    ds = load_splits(sp)
    trainer = SpecialistTrainer(model=load_model(sp.config["model"], for_training=True), args=args,
                                train_dataset=ds["train"], eval_dataset=ds["test"],
                                processing_class=load_tokenizer(sp.config["model"]), peft_config=lora_config(sp),
                                fused_lm_head=fused)
    trainer.train()
    return trainer


def test_the_cpu_loss_trains_exactly_what_trls_fused_lm_head_trains(workspace, tmp_path):
    plain, fused = short_run(workspace, tmp_path, fused=False), short_run(workspace, tmp_path, fused=True)
    assert not plain.fused_lm_head and fused.fused_lm_head
    logs = [[h for h in t.state.log_history if "loss" in h] for t in (plain, fused)]
    assert len(logs[0]) == len(logs[1]) == 2
    for a, b in zip(*logs):
        for key in ("loss", "grad_norm", "entropy", "mean_token_accuracy", "num_tokens"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    assert plain.evaluate()["eval_loss"] == pytest.approx(fused.evaluate()["eval_loss"], rel=1e-5)


def test_the_cpu_loss_has_the_gradient_of_trls_fused_lm_head(workspace, tmp_path):
    import torch

    trainer = short_run(workspace, tmp_path, fused=False)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()  # no LoRA dropout: both passes see the same network
    grads = []
    for fused in (False, True):
        trainer.fused_lm_head = fused
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        grads.append((loss.item(), {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}))
    (plain_loss, plain_grads), (fused_loss, fused_grads) = grads
    assert plain_loss == pytest.approx(fused_loss, rel=1e-6)
    for name, g in plain_grads.items():
        assert torch.allclose(g, fused_grads[name], rtol=1e-4, atol=1e-7), name


def test_on_a_cpu_training_uses_the_plain_loss_and_logs_tokens_per_second(workspace, tmp_path):
    trainer = short_run(workspace, tmp_path, fused=None)
    assert trainer.fused_lm_head is False  # no Triton kernel for TRL's fused head on a CPU
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 2 and all(h["tokens_per_second"] > 0 and h["num_input_tokens_seen"] > 0 for h in logged)
