"""Training throughput and peak memory of the tiny model on CPU: SFTTrainer against a plain PyTorch loop.

    .venv/bin/python bench/train.py                       # h128 tiny base (as `make demo`), 12 timed steps of batch 2
    .venv/bin/python bench/train.py --steps 24 --repeats 3
    .venv/bin/python bench/train.py --threads 0           # torch's own thread count (default here: 1, see --help)
    .venv/bin/python bench/train.py --base smollm2 --modes unpacked --steps 3 --warmup 1 --repeats 1 --threads 0
                                                          # a real base (configs/smollm2.yaml's settings)

Setup, built once and cached in the temp folder: the sample opencode store (12 sessions per language), the tiny
Llama base (h128, 2 layers, vocab 4096) and its tokenizer, and the five extracted datasets; the train windows of all
five are pooled (about 100 windows of up to 1,536 tokens).

Each of the two modes, unpacked (the CPU default) and packed (`packing=true`, TRL's bfd with padding-free rows),
runs in its own child process, so its peak RSS is its own. In each child, alternating `--repeats` times:
- trainer: `SpecialistTrainer` (train/trainer.py) built as `python -m train` builds it, with the demo overlay's
  SFTConfig and LoRA r16 on all linear layers, CPU loss path (plain logits + log-softmax);
- trainer, fused head: the same with TRL's default fused LM head (trl/kernels/chunked_logprob.py);
- raw loop: the same model and LoRA (same seed), the same optimizer class and settings, over the very batches the
  trainer's dataloader yields (sequential sampling): forward, loss, backward, step, zero_grad. The floor.
The first `--warmup` steps of each run are not timed; tokens are real (non-padding) tokens; the best run of each
kind is kept, since a shared machine only ever makes a run slower.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NAME = "serpent"  # whose config (defaults + configs/serpent.yaml + the demo overlay) the trainer uses


def workspace(hidden: int, seed: int = 0, base_name: str = "tiny") -> Path:
    """Sample store -> tiny base (or a real one: `base_name`) -> extracted datasets, cached by base, size and seed."""
    slug = f"h{hidden}" if base_name == "tiny" else base_name.removeprefix("gguf:").replace("/", "_")
    root = Path(tempfile.gettempdir()) / f"workbench-bench-train-{slug}-s{seed}"
    if (root / "ready").exists():
        return root
    import yaml

    from core import config
    from extract.pipeline import Settings, run
    from sample.store import build_sample_store
    from sample.tiny_model import build_tiny_base, corpus_from_store

    t0 = time.time()
    root.mkdir(parents=True, exist_ok=True)
    db = build_sample_store(root / "opencode.db", seed=seed, sessions_per_language=12)
    if base_name == "tiny":
        base = build_tiny_base(root / "base", list(corpus_from_store(db)), hidden_size=hidden, num_layers=2,
                               vocab_size=4096, seed=seed)
        cfg = config.read_overlay(REPO / "configs" / "demo.yaml")  # with the tiny.yaml it extends
    else:  # a real base with its overlay's settings (configs/smollm2.yaml), or smollm2's for a GGUF of yours
        base = base_name if base_name.startswith("gguf:") or "/" in base_name else f"gguf:{base_name}"
        own = REPO / "configs" / f"{base.removeprefix('gguf:')}.yaml"
        cfg = config.read_overlay(own if own.is_file() else REPO / "configs" / "smollm2.yaml")
    cfg["paths"] = {k: str(root / k) for k in ("data", "outputs", "reports", "exports")}
    cfg["extract"]["tokenizer"] = cfg["model"]["model_name_or_path"] = str(base)
    (root / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    ex = config.load(overlay=root / "overlay.yaml")["extract"]
    run(Settings(db=db, out=root / "data", specialists=config.specialists(overlay=root / "overlay.yaml"),
                 tokenizer=str(base), window_tokens=cfg["sft"]["max_length"], tool_output_chars=ex["tool_output_chars"],
                 test_fraction=ex["test_fraction"]), progress=False)
    (root / "ready").touch()
    print(f"built the bench workspace in {time.time() - t0:.1f} s -> {root}", file=sys.stderr)
    return root


def real_tokens(batch) -> int:
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else int(batch["input_ids"].numel())


def child(root: Path, packing: bool, steps: int, warmup: int, repeats: int, threads: int | None) -> dict:
    """One mode: trainer (plain loss), trainer (fused head) and the raw loop, alternating; best tok/s of each."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from datasets import concatenate_datasets
    from transformers import Trainer, TrainerCallback

    from core.data import open_dataset
    from core.models import load_model, load_tokenizer, quiet_libraries
    from train.sft import load_specialist, lora_config, sft_config
    from train.trainer import SpecialistTrainer

    quiet_libraries()
    overlay = str(root / "overlay.yaml")
    sp = load_specialist(NAME, overlay, [])
    rows = concatenate_datasets([open_dataset(n, root / "data" / n)["train"]
                                 for n in sorted(p.name for p in (root / "data").iterdir() if p.is_dir())])
    tok = load_tokenizer(sp.config["model"])
    total = warmup + steps

    def build(fused: bool):
        args = sft_config(sp, root / "outputs" / "bench", max_steps=total, packing=packing, logging_steps=10_000,
                          save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
                          train_sampling_strategy="sequential")
        return SpecialistTrainer(model=load_model(sp.config["model"], for_training=True), args=args,
                                 train_dataset=rows, processing_class=tok, peft_config=lora_config(sp),
                                 fused_lm_head=fused)

    class StepClock(TrainerCallback):
        def __init__(self):
            self.marks = []

        def on_step_end(self, args, state, control, **kwargs):
            self.marks.append((time.perf_counter(), state.num_input_tokens_seen))

    def run_trainer(fused: bool) -> float:
        trainer = build(fused)
        clock = StepClock()
        trainer.add_callback(clock)
        trainer.train()
        (t0, n0), (t1, n1) = clock.marks[warmup - 1], clock.marks[-1]
        return (n1 - n0) / (t1 - t0)

    # The raw loop's batches: what the trainer's dataloader yields (sequential sampling), collated the same way
    probe = build(fused=False)
    batches = []
    for batch in probe.get_train_dataloader():
        batches.append({k: v for k, v in batch.items()})
        if len(batches) == total:
            break
    while len(batches) < total:  # fewer batches than steps: the trainer starts a new epoch, so do we
        batches += batches[: total - len(batches)]
    padding = 1 - sum(real_tokens(b) for b in batches) / sum(b["input_ids"].numel() for b in batches)
    opt_cls, opt_kwargs = Trainer.get_optimizer_cls_and_kwargs(probe.args, probe.model)
    del probe

    def run_raw() -> float:
        from peft import get_peft_model
        from transformers import set_seed

        set_seed(sp.config["sft"].get("seed", 42))
        model = get_peft_model(load_model(sp.config["model"], for_training=True), lora_config(sp))
        model.train()
        opt = opt_cls([p for p in model.parameters() if p.requires_grad], **opt_kwargs)
        t0 = n0 = None
        seen = 0
        for i, batch in enumerate(batches):
            labels = batch["labels"][:, 1:]
            out = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False)
            trained = labels != -100
            log_probs = out.logits[:, :-1][trained].float().log_softmax(-1)
            loss = -log_probs.gather(-1, labels[trained].unsqueeze(-1)).sum() / trained.sum().clamp(min=1)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            seen += real_tokens(batch)
            if i == warmup - 1:
                t0, n0 = time.perf_counter(), seen
        return (seen - n0) / (time.perf_counter() - t0)

    best = {"trainer": 0.0, "raw": 0.0, "fused": 0.0}
    peak_mb = None
    for r in range(repeats):
        runs = {"trainer": run_trainer(fused=False)}
        if peak_mb is None:  # the process's peak so far: imports, data, model and one training run
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        runs["raw"] = run_raw()
        runs["fused"] = run_trainer(fused=True)
        print(f"{'packed' if packing else 'unpacked'} run {r + 1}: " + ", ".join(f"{k} {v:.0f} tok/s" for k, v in runs.items()),
              file=sys.stderr, flush=True)
        best = {k: max(best[k], runs[k]) for k in best}
    return {"packing": packing, "tok_s": best["trainer"], "raw_tok_s": best["raw"], "fused_tok_s": best["fused"],
            "peak_mb": peak_mb, "padding": padding, "tokens_per_batch": sum(real_tokens(b) for b in batches) / total,
            "threads": torch.get_num_threads()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12, help="timed optimizer steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of each run")
    p.add_argument("--repeats", type=int, default=2, help="runs of each kind; the best is kept")
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--base", default="tiny", help="tiny (built here), or a real base: smollm2, gemma3, gguf:PATH")
    p.add_argument("--modes", default="unpacked,packed", help="unpacked, packed or both (comma-separated)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (0: torch's default, one per core). 1 by default: on a shared 2-core machine "
                        "two threads stall each other whenever another process runs, and figures swing 5x")
    p.add_argument("--child", choices=["packed", "unpacked"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.warmup < 1 or a.steps < 1:
        p.error("--warmup and --steps must be at least 1: the clock starts at the end of the last untimed step")
    root = workspace(a.hidden_size, base_name=a.base)
    if a.child:
        print(json.dumps(child(root, a.child == "packed", a.steps, a.warmup, a.repeats, a.threads)))
        return
    res = {}
    for mode in a.modes.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(a.steps), "--warmup",
                              str(a.warmup), "--repeats", str(a.repeats), "--hidden-size", str(a.hidden_size),
                              "--base", a.base]
                             + ["--threads", str(a.threads)],
                             cwd=REPO, check=True, capture_output=True, text=True)
        res[mode] = r = json.loads(out.stdout.strip().splitlines()[-1])
        for line in out.stderr.splitlines():
            if line.startswith(f"{mode} run "):
                print(line, file=sys.stderr)
        print(f"{mode:>8}: trainer {r['tok_s']:.0f} tok/s, raw loop {r['raw_tok_s']:.0f} tok/s "
              f"(ratio {r['tok_s'] / r['raw_tok_s']:.2f}); with TRL's fused LM head {r['fused_tok_s']:.0f} tok/s "
              f"(the CPU loss path: {r['tok_s'] / r['fused_tok_s']:.2f}x that); peak RSS {r['peak_mb']:.0f} MB; "
              f"{r['tokens_per_batch']:.0f} real tokens a batch, padding {100 * r['padding']:.1f}%; "
              f"{r['threads']} torch thread{'s' if r['threads'] > 1 else ''}", flush=True)
    u = res.get("unpacked") or next(iter(res.values()))
    pk = res.get("packed")
    print(f"train ({a.base}): trainer/raw-loop throughput ratio {u['tok_s'] / u['raw_tok_s']:.2f} ("
          + (f"packed {pk['tok_s']:.0f} tok/s, " if pk else "")
          + f"unpacked {u['tok_s']:.0f} tok/s, padding {100 * u['padding']:.1f}%)")


if __name__ == "__main__":
    main()
