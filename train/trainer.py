"""SFTTrainer as the workbench runs it: the plain loss where TRL's fused LM head has no kernel, live tokens/s.

TRL 1.16 computes the loss through a fused LM head (`trl/kernels/chunked_logprob.py`) so that the full logits are
never materialised. On CUDA/XPU that runs as Triton kernels and saves memory; on a CPU it falls back to torch ops over
the whole `[tokens, vocab]` tile, forward and again in backward, and costs about twice the plain logits +
log-softmax of the model's own forward (bench/train.py measures both). TRL's documented way to change the loss is to
subclass `SFTTrainer` and override `compute_loss` (its `compute_loss_func` deprecation says so); this does that and
computes the same quantities: the summed negative log-likelihood of the trained tokens over `num_items_in_batch`,
with the same `entropy`, `mean_token_accuracy` and `num_tokens` metrics.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback
from trl import SFTTrainer

PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR


def fused_head_has_kernel(device: torch.device) -> bool:
    """Whether TRL's fused LM head runs as Triton kernels on this device (else its torch fallback is slow)."""
    from transformers.utils import is_triton_available

    return device.type in ("cuda", "xpu") and is_triton_available()


class SpecialistTrainer(SFTTrainer):
    """`SFTTrainer` with `fused_lm_head` (None: TRL's fused head where it has a kernel, the plain loss elsewhere)."""

    def __init__(self, *args, fused_lm_head: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused_lm_head = fused_head_has_kernel(self.args.device) if fused_lm_head is None else fused_lm_head
        self.add_callback(_Throughput(self))

    # --- checkpoints: written whole or not at all (train/checkpoints.py says why) ---

    def _get_output_dir(self, trial) -> str:
        staging = getattr(self, "_checkpoint_staging", None)
        return str(staging) if staging is not None else super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint, saved into `.staging-checkpoint/` and renamed into place once every process
        has written its part; then old checkpoints are rotated by step (a folder is renamed aside before deletion)."""
        from core.atomic import disk_full, is_disk_full, point, replace_dir

        from .checkpoints import rotate

        run_dir = Path(super()._get_output_dir(trial))
        name = f"{PREFIX}{self.state.global_step}"
        staging = run_dir / ".staging-checkpoint"  # one name every process agrees on; a leftover is settled away
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        self._checkpoint_staging = staging
        try:
            super()._save_checkpoint(model, trial)
        except OSError as e:
            if self.args.should_save:
                shutil.rmtree(staging, ignore_errors=True)
            if is_disk_full(e):
                raise disk_full(e, run_dir / name, f"{name} was not written; the earlier checkpoints and the "
                                                   f"previous adapter are unchanged") from None
            raise
        finally:
            self._checkpoint_staging = None
        self.accelerator.wait_for_everyone()  # every process's rng_state / shard is in the staging folder
        if self.args.should_save:
            point(f"{name} written")
            replace_dir(staging / name, run_dir / name)
            shutil.rmtree(staging, ignore_errors=True)
            rotate(run_dir, self.args.save_total_limit, run_dir / name)
        self.accelerator.wait_for_everyone()

    def _plain_loss_applies(self, return_outputs: bool) -> bool:
        pc = self.accelerator.parallelism_config
        return not (self.fused_lm_head or return_outputs or self.aux_loss_enabled or self.args.loss_type != "nll"
                    or self.compute_loss_func is not None or self.label_smoother is not None
                    or (pc is not None and (pc.sp_enabled or pc.cp_enabled)))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self._plain_loss_applies(return_outputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        labels = inputs["labels"][:, 1:]
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False)
        trained = labels != -100
        # only the trained positions go through log-softmax (the assistant's tokens: a third to a half of a window)
        log_probs = outputs.logits[:, :-1][trained].float().log_softmax(-1)
        targets = labels[trained]
        nll = -log_probs.gather(-1, targets.unsqueeze(-1)).sum()
        count = trained.sum() if num_items_in_batch is None else num_items_in_batch
        loss = nll / torch.as_tensor(count, device=nll.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())  # as SFTTrainer: DDP averages grads

        # The metrics SFTTrainer logs (its `_metrics` and `_total_train_tokens`, read by its `log`)
        with torch.no_grad():
            entropy = -(log_probs.exp() * log_probs).sum(-1).sum()
            correct = (log_probs.argmax(-1) == targets).sum()
        gather = self.accelerator.gather_for_metrics
        num_valid = gather(trained.sum()).sum()
        for key, value in (("entropy", gather(entropy).sum()), ("mean_token_accuracy", gather(correct).sum())):
            self._metrics[mode][key].append((value / num_valid).item() if num_valid > 0 else 0.0)
        if mode == "train":
            if "attention_mask" in inputs:
                seen = gather(inputs["attention_mask"].sum()).sum().item()
            else:  # padding-free: one row of real tokens
                seen = gather(torch.tensor(inputs["position_ids"].size(1), device=nll.device)).sum().item()
            self._total_train_tokens += seen // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: tokens/s since the previous one, beside the loss
            now, seen = time.perf_counter(), self.state.num_input_tokens_seen
            last = getattr(self, "_last_log", None)
            if last and now > last[0]:
                logs["tokens_per_second"] = round((seen - last[1]) / (now - last[0]), 1)
            self._last_log = (now, seen)
        super().log(logs, start_time)


class _Throughput(TrainerCallback):
    """The progress bar's postfix: the latest logged loss and the tokens/s of this session so far."""

    def __init__(self, trainer: SpecialistTrainer):
        self.trainer, self.start, self.loss = trainer, None, None

    def _bar(self):
        progress = next((c for c in self.trainer.callback_handler.callbacks if isinstance(c, ProgressCallback)), None)
        return getattr(progress, "training_bar", None)

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = (time.perf_counter(), state.num_input_tokens_seen)
        self.trainer._last_log = self.start

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.loss = logs["loss"]
            self.on_step_end(args, state, control)

    def on_step_end(self, args, state, control, **kwargs):
        bar = self._bar()
        if bar is None or self.start is None:
            return
        elapsed = time.perf_counter() - self.start[0]
        postfix = {"tok/s": f"{(state.num_input_tokens_seen - self.start[1]) / elapsed:.0f}"} if elapsed > 0 else {}
        if self.loss is not None:
            postfix = {"loss": f"{self.loss:.4g}", **postfix}
        bar.set_postfix(postfix)
