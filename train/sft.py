"""Config in, SFTTrainer built, adapter out: one specialist's LoRA fit on its extracted dataset."""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from core import config as cfglib
from core.config import ConfigError, Specialist

# report_to backends whose module or pip package is not the backend's own name: (modules, pip package)
REPORTERS = {"tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"), "azure_ml": (("azureml",), "azureml-core"),
             "flyte": (("flytekit",), "flytekit")}


class NoTrainingData(ConfigError):
    """The specialist's train split is missing or empty (`--all` skips it)."""


def is_main_process() -> bool:
    """Rank 0 of a `torchrun`/`accelerate launch` job, or a plain run: the one process that prints and writes."""
    return int(os.environ.get("RANK", "0")) == 0


def say(*args, **kwargs) -> None:
    if is_main_process():
        print(*args, **kwargs, flush=True)


known_fields = cfglib.known_fields  # the field names of the library config objects each section feeds


def load_specialist(name: str, overlay: str | None, overrides: list[str]) -> Specialist:
    """The specialist's config, every key and value checked (core.config.validate), packing resolved."""
    sp = cfglib.specialist(name, overlay=overlay, overrides=overrides)
    resolve_packing(sp.config)
    return sp


# --- GPU switches ---------------------------------------------------------------------------------------------------

def _installed(*modules: str) -> bool:
    return any(importlib.util.find_spec(m) is not None for m in modules)


def _accelerator() -> str | None:
    """"cuda", "xpu" or "mps" when torch sees one, else None (a CPU-only machine)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    if torch.backends.mps.is_available():
        return "mps"
    return None


def flash_attention() -> str | None:
    """The FlashAttention implementation transformers can use here (CUDA and the flash-attn package), if any."""
    return next((fa for fa in ("flash_attention_3", "flash_attention_2") if _flash_available(fa)), None)


def _flash_available(implementation: str) -> bool:
    from transformers.utils import is_flash_attn_2_available, is_flash_attn_3_available

    return {"flash_attention_2": is_flash_attn_2_available, "flash_attention_3": is_flash_attn_3_available}[
        implementation]()


def resolve_packing(cfg: dict[str, Any]) -> None:
    """`sft.packing: auto`: packing on, with FlashAttention, where FlashAttention is available; off elsewhere (CPU)."""
    if cfg["sft"].get("packing") != "auto":
        return
    fa = flash_attention()
    cfg["sft"]["packing"] = fa is not None
    if fa and not cfg["model"].get("attn_implementation"):
        cfg["model"]["attn_implementation"] = fa  # packed rows are kept apart by FlashAttention's varlen kernels


def check_switches(sp: Specialist) -> None:
    """The GPU switches, report_to backends and every SFTConfig value, checked before any dataset or model loads."""
    model, sft = sp.config["model"], sp.config["sft"]
    gpu = _accelerator() == "cuda"
    for key in ("load_in_4bit", "load_in_8bit"):
        if model.get(key):
            missing = ([] if gpu else ["a CUDA GPU (none here)"]) + \
                ([] if _installed("bitsandbytes") else ["bitsandbytes (pip install bitsandbytes)"])
            if missing:
                raise ConfigError(f"{sp.name}: model.{key} (QLoRA) needs {' and '.join(missing)}; "
                                  f"drop model.{key} to train in full precision")
    if sft.get("use_liger_kernel"):
        missing = ([] if _accelerator() in ("cuda", "xpu") else ["a GPU (Liger's kernels are Triton; none here)"]) + \
            ([] if _installed("liger_kernel") else ["liger-kernel (pip install liger-kernel)"])
        if missing:
            raise ConfigError(f"{sp.name}: sft.use_liger_kernel needs {' and '.join(missing)}; "
                              f"set sft.use_liger_kernel=false")
    attn = model.get("attn_implementation") or ""
    if attn in ("flash_attention_2", "flash_attention_3") and not _flash_available(attn):
        raise ConfigError(f"{sp.name}: model.attn_implementation={attn} needs a CUDA GPU and the flash-attn package "
                          f"(pip install flash-attn); use sdpa here")
    reporters = sft.get("report_to")
    for r in [reporters] if isinstance(reporters, str) else list(reporters or []):
        if r in ("none", "all"):
            continue
        from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

        if r not in INTEGRATION_TO_CALLBACK:
            raise ConfigError(f"{sp.name}: sft.report_to={r} is not a logging backend transformers knows "
                              f"({', '.join(sorted(INTEGRATION_TO_CALLBACK))})")
        modules, package = REPORTERS.get(r, ((r,), r))
        if not _installed(*modules):
            raise ConfigError(f"{sp.name}: sft.report_to={r} but {r} is not installed (pip install {package}); "
                              f"or set sft.report_to=none")
    try:
        sft_config(sp, sp.path("outputs") / "checkpoints")
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{sp.name}: the sft section is not a valid SFTConfig: {str(e).strip().splitlines()[0]}") from None


# --- data and configs -----------------------------------------------------------------------------------------------

def load_splits(sp: Specialist):
    """The specialist's DatasetDict from data/<name>, read in memory (TRL must not write caches beside it)."""
    from core.data import open_dataset

    path = sp.path("data")
    ds = open_dataset(sp.name, path)
    if "train" not in ds or len(ds["train"]) == 0:
        raise NoTrainingData(f"{sp.name}: the train split at {path} is empty; no {sp.language} sessions were extracted")
    return ds


def sft_config(sp: Specialist, output_dir: Path, **overrides):
    import torch
    from trl import SFTConfig

    args = {**sp.config["sft"], **overrides}
    if "bf16" not in args and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        args["bf16"] = False  # TRL defaults to bf16: it raises on a CPU, or with use_cpu is slower (stack-notes 3)
    if _accelerator() is None:
        args.setdefault("use_cpu", True)  # and, under torchrun / accelerate launch, the gloo backend
        args.setdefault("dataloader_pin_memory", False)
    # TRL's SFTConfig turns checkpointing on under its deprecated name, and transformers warns about that name on every
    # run: the same setting under the new name (a config's gradient_checkpointing is read as activation_checkpointing)
    if args.get("gradient_checkpointing") is not None:
        args.setdefault("activation_checkpointing", args["gradient_checkpointing"])
    args.setdefault("activation_checkpointing", True)
    args["gradient_checkpointing"] = None
    args.setdefault("include_num_input_tokens_seen", "non_padding")
    args.setdefault("run_name", sp.name)
    return SFTConfig(output_dir=str(output_dir), **args)


def lora_config(sp: Specialist):
    from peft import LoraConfig

    return LoraConfig(**sp.config["lora"])


def masking_method(sp: Specialist, tok) -> str:
    """How the trained tokens are found: "markers", "patched", "diff" (see core/masking.py) or "off"."""
    from core.masking import TemplateError, method

    if not sp.config["sft"].get("assistant_only_loss"):
        return "off"
    try:
        return method(tok)
    except TemplateError as e:
        raise ConfigError(f"{sp.name}: {e}") from None


MASKING = {"markers": "the chat template's {% generation %} markers",
           "patched": "TRL's patched copy of the chat template",
           "diff": "the template-agnostic diff (the chat template has no {% generation %} markers and TRL has no "
                   "patched copy of it): each assistant turn, end-of-turn token included",
           "off": "none: sft.assistant_only_loss is false, every token is trained"}


def encode(sp: Specialist, tok, rows, how: str, limit: int | None = None) -> list[tuple[list[int], list[int]]]:
    """Token ids and trained-token mask of each row (the first `limit`), as training sees them."""
    from core.masking import TemplateError, tokenize, training_template

    template = training_template(tok) if how == "patched" else None
    out = []
    for i, r in enumerate(rows.select(range(min(limit, len(rows)))) if limit else rows):
        try:
            ids, mask = tokenize(tok, r["messages"], r["tools"], template)
        except TemplateError as e:
            raise ConfigError(f"{sp.name}: window {i} (session {r.get('session_id')}): {e}") from None
        out.append((ids, [1] * len(ids) if how == "off" else mask))
    return out


def pretokenized(encoded: list[tuple[list[int], list[int]]]):
    """Rows SFTTrainer takes as they are: it builds labels from `assistant_masks`, then truncates like any row."""
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [ids for ids, _ in encoded], "assistant_masks": [m for _, m in encoded]})


def training_args(sp: Specialist, output_dir: Path, how: str):
    """The SFTConfig; with the diff method TRL gets tokenized rows and must not look for markers itself (the mask
    travels in their `assistant_masks` column, which TRL applies to tokenized rows whatever assistant_only_loss says)."""
    return sft_config(sp, output_dir, **({"assistant_only_loss": False} if how == "diff" else {}))


def training_rows(sp: Specialist, tok, ds, how: str):
    """(train rows, test rows or None, encoded train windows) for SFTTrainer: the extracted rows, which TRL renders
    and masks itself, or with the diff method our tokenized rows. `encoded` covers the first 2000 windows at least."""
    test = ds["test"] if "test" in ds and len(ds["test"]) else None
    if how != "diff":
        return ds["train"], test, encode(sp, tok, ds["train"], how, limit=2000)
    encoded = encode(sp, tok, ds["train"], how)
    return pretokenized(encoded), pretokenized(encode(sp, tok, test, how)) if test else None, encoded


def describe_lengths(lengths: list[int], max_length: int | None) -> str:
    if not lengths:
        return "no windows"
    q = statistics.quantiles(lengths, n=20, method="inclusive") if len(lengths) > 1 else [lengths[0]] * 19
    over = sum(n > max_length for n in lengths) if max_length else 0
    return (f"tokens per window: min {min(lengths)}, median {int(statistics.median(lengths))}, p95 {int(q[18])}, "
            f"max {max(lengths)}; {over} of {len(lengths)} over max_length {max_length}")


def over_length(encoded, args) -> dict[str, Any]:
    """Windows longer than max_length: how many, and what SFTTrainer does with them under this config."""
    L = args.max_length
    over = [(ids, mask) for ids, mask in encoded if L and len(ids) > L]
    report = {"windows": len(encoded), "over_max_length": len(over), "max_length": L,
              "trained_tokens_cut": 0, "windows_dropped": 0}
    if not over:
        return report
    if args.packing and args.packing_strategy == "bfd_split":
        report["action"] = f"packing (bfd_split) splits each into pieces of at most {L} tokens; nothing is cut"
    elif args.packing and args.packing_strategy == "wrapped":
        report["action"] = f"packing (wrapped) cuts the token stream into {L}-token blocks; nothing is cut"
    else:
        report["trained_tokens_cut"] = sum(sum(mask[L:]) for _, mask in over)
        report["windows_dropped"] = 0 if args.packing else sum(1 for _, mask in over if not any(mask[:L]))
        report["action"] = (f"{'packing (bfd) keeps' if args.packing else 'TRL keeps'} the first {L} tokens of each: "
                            f"{report['trained_tokens_cut']} trained tokens are cut"
                            + ("" if args.packing else f" and {report['windows_dropped']} windows left with no "
                               f"trained token are dropped"))
    return report


def describe_over_length(report: dict[str, Any], sp: Specialist | None = None) -> str | None:
    if not report["over_max_length"]:
        return None
    return (f"{report['over_max_length']} of {report['windows']} train windows are longer than max_length "
            f"{report['max_length']}; {report['action']}. {_window_advice(report['max_length'], sp)}")


def _window_advice(max_length: int, sp: Specialist | None) -> str:
    """What re-extraction fixes it: a smaller window budget, or windows measured in the base's own tokens."""
    settings = {}
    if sp is not None:
        manifest = Path(sp.config["paths"]["data"]) / "manifest.json"
        settings = json.loads(manifest.read_text()).get("settings", {}) if manifest.is_file() else {}
    budget, counter = settings.get("window_tokens"), str(settings.get("token_counter") or "")
    if budget is not None and budget <= max_length and sp is not None:
        base = sp.config["model"]["model_name_or_path"]
        if counter == base:
            return (f"The windows were measured in the base's own tokens and template; re-extract with a smaller "
                    f"extract.window_tokens (say {int(max_length * 0.95)}) to leave room for what the measure misses")
        how = ("estimated at 3 characters a token" if counter.startswith("estimate")
               else f"counted with {counter}'s tokenizer")
        return (f"The windows were cut to extract.window_tokens {budget} {how}, which is off for this base: "
                f"re-extract with extract.tokenizer={base} to measure them in its tokens")
    return f"Re-extract with extract.window_tokens <= {max_length} to avoid it."


def trained_share(encoded, max_length: int | None) -> tuple[int, int]:
    """(trained tokens, tokens) of the windows as SFTTrainer keeps them (the first max_length tokens of each)."""
    L = max_length or None
    return (sum(sum(mask[:L]) for _, mask in encoded), sum(len(ids[:L]) for ids, _ in encoded))


def header_tokens(sp: Specialist, tok, rows) -> int | None:
    """Tokens of a window's opening (system prompt and tool definitions) as the template renders them, first window."""
    if not len(rows):
        return None
    from core.masking import parse_tools

    row = rows[0]
    system = [m for m in row["messages"][:1] if m.get("role") == "system"]
    try:
        return len(tok.apply_chat_template(system or [{"role": "system", "content": ""}],
                                           tools=parse_tools(row["tools"]), tokenize=True,
                                           return_dict=True)["input_ids"])
    except Exception:  # a template that refuses a system-only conversation: no figure
        return None


def share_problem(sp: Specialist, tok, rows, encoded, args, report: dict[str, Any]) -> str | None:
    """Why this run would train too little (under train.min_trained_share), naming the cause; None when it is fine."""
    floor = float((sp.config.get("train") or {}).get("min_trained_share") or 0)
    trained, total = trained_share(encoded, None if report.get("action", "").startswith("packing (") else
                                   args.max_length)
    if not floor or not total or trained / total >= floor:
        return None
    causes = []
    if report["trained_tokens_cut"]:
        causes.append(f"{report['over_max_length']} of {report['windows']} windows are longer than max_length "
                      f"{report['max_length']}, which cuts {report['trained_tokens_cut']} trained tokens"
                      + (f" and drops {report['windows_dropped']} windows" if report["windows_dropped"] else "")
                      + f" ({_window_advice(args.max_length, sp)})")
    header = header_tokens(sp, tok, rows)
    if header and args.max_length and header > args.max_length // 3:
        causes.append(f"the system prompt and tool definitions alone take {header} of the {args.max_length} tokens "
                      f"of sft.max_length (raise sft.max_length, and extract.window_tokens with it)")
    if not causes:
        causes.append("the prompts and tool results outweigh what the assistant writes")
    return (f"only {trained} of {total} tokens ({100 * trained / total:.1f}%) would be trained, under "
            f"train.min_trained_share {floor:g}: {'; '.join(causes)}; to train anyway, set "
            f"train.min_trained_share=0")


def dry_run(sp: Specialist) -> None:
    from core.models import config_tokenizer

    ds = load_splits(sp)
    tok = config_tokenizer(sp.config, who=sp.name)
    how = masking_method(sp, tok)
    encoded = encode(sp, tok, ds["train"], how, limit=2000)
    print(f"# {sp.name} ({sp.language}): resolved configuration")
    print(yaml.safe_dump({k: sp.config[k] for k in ("model", "lora", "sft", "paths")}, sort_keys=False).rstrip())
    print(f"dataset {sp.path('data')}: train {len(ds['train'])} windows, test {len(ds.get('test', []))} windows")
    print(f"trained tokens found by {MASKING[how]}")
    print(describe_lengths([len(ids) for ids, _ in encoded], sp.config["sft"].get("max_length")))
    args = sft_config(sp, sp.path("outputs") / "checkpoints")
    report = over_length(encoded, args)
    note = describe_over_length(report, sp)
    if note:
        print(note)
    trained, total = trained_share(encoded, args.max_length)
    print(f"{trained} of {total} tokens trained ({100 * trained / max(total, 1):.1f}%)")
    problem = share_problem(sp, tok, ds["train"], encoded, args, report)
    if problem:
        print(f"training would refuse: {problem}")


def inspect(sp: Specialist, n: int = 3) -> None:
    """A few training windows with the trained tokens coloured apart from the masked ones, and the trained share."""
    from core.masking import colour
    from core.models import config_tokenizer

    ds = load_splits(sp)
    tok = config_tokenizer(sp.config, who=sp.name)
    how = masking_method(sp, tok)
    args = sft_config(sp, sp.path("outputs") / "checkpoints")
    splits = args.packing and args.packing_strategy in ("bfd_split", "wrapped")  # long windows are split, not cut
    L = None if splits else args.max_length
    rows = ds["train"]
    encoded = encode(sp, tok, rows, how, limit=2000)
    print(f"# {sp.name}: trained tokens found by {MASKING[how]}")
    print("# trained text is green, masked text dimmed" if not os.environ.get("NO_COLOR")
          else "# trained text is between ⟦ and ⟧")
    for i, (ids, mask) in enumerate(encoded[:n]):
        row = rows[i]
        kept, kept_mask = (ids[:L], mask[:L]) if L else (ids, mask)
        print(f"\n## window {i}: session {row.get('session_id')} window {(row.get('window_index') or 0) + 1}"
              f"/{row.get('window_count') or 1}: {len(ids)} tokens, {sum(kept_mask)} trained "
              f"({100 * sum(kept_mask) / max(len(kept), 1):.1f}%)")
        print(colour(tok, kept, kept_mask))
        if len(ids) > len(kept):
            print(f"[... {len(ids) - len(kept)} more tokens past max_length {L} ({sum(mask[L:])} of them assistant "
                  f"tokens): not trained ...]")
    total = sum(min(len(ids), L or len(ids)) for ids, _ in encoded)
    trained = sum(sum(mask[:L] if L else mask) for _, mask in encoded)
    print(f"\n{sp.name}: {trained} of {total} tokens trained ({100 * trained / max(total, 1):.1f}%) over "
          f"{len(encoded)} train windows" + (f" (the first {len(encoded)} of {len(rows)})" if len(rows) > len(encoded)
                                             else ""))
    print(describe_lengths([len(ids) for ids, _ in encoded], args.max_length))
    report = over_length(encoded, args)
    note = describe_over_length(report, sp)
    if note:
        print(note)
    problem = share_problem(sp, tok, rows, encoded, args, report)
    if problem:
        print(f"training would refuse: {problem}")


# --- training -------------------------------------------------------------------------------------------------------

def train(sp: Specialist, *, resume: bool = False, init_adapter: str | Path | None = None) -> dict[str, Any] | None:
    """Fit and save the adapter; the previous adapter stays in place until the new one is complete.

    Returns the training summary, or None when `resume` finds the run already finished (nothing to do).
    The main process holds outputs/<name>/'s lock throughout: a second run on the same output is refused.
    Under `accelerate launch`/`torchrun` every process runs this; only the main one prints and writes files, and all
    of them take part in evaluating and saving (FSDP and ZeRO-3 gather the weights across processes)."""
    from contextlib import nullcontext

    from core.atomic import settle
    from core.lock import output_lock

    out = sp.path("outputs")
    with output_lock(out, what=f"train {sp.name}") if is_main_process() else nullcontext():
        if is_main_process():  # what a killed run left: a committed adapter finished, staging folders removed
            settle(out, held=True)
            settle(out / "checkpoints", held=True)
        return _train(sp, resume, init_adapter)


def _train(sp: Specialist, resume: bool, init_adapter: str | Path | None = None) -> dict[str, Any] | None:
    from accelerate import PartialState

    from core.atomic import remove_dir
    from core.models import load_model, config_tokenizer, resolve_base
    from .checkpoints import latest_complete
    from .trainer import SpecialistTrainer

    ds = load_splits(sp)
    out = sp.path("outputs")
    ckpt = out / "checkpoints"
    tok = config_tokenizer(sp.config, who=sp.name)
    how = masking_method(sp, tok)
    args = training_args(sp, ckpt, how)
    state = PartialState()  # set up by SFTConfig: the process group under a launcher
    train_rows, test, encoded = training_rows(sp, tok, ds, how)
    report = over_length(encoded, args)
    if report["over_max_length"]:
        say(f"{sp.name}: {describe_over_length(report, sp)}", file=sys.stderr)
    if len(encoded) == len(ds["train"]) and report["windows_dropped"] == len(encoded):
        raise ConfigError(f"{sp.name}: no train window has a trained token within its first max_length "
                          f"{args.max_length} tokens; raise sft.max_length or re-extract with a smaller "
                          f"extract.window_tokens")
    problem = share_problem(sp, tok, ds["train"], encoded, args, report)
    if problem:
        raise ConfigError(f"{sp.name}: {problem}")

    last, start = None, {}
    if resume:
        last, skipped = latest_complete(ckpt)
        for p, wrong in skipped:
            say(f"{sp.name}: skipped {p.name}: incomplete ({'; '.join(wrong)})", file=sys.stderr)
        if last is None:
            say(f"{sp.name}: RESUME asked but no complete checkpoint in {ckpt}; starting from step 0", file=sys.stderr)
        else:
            start = json.loads((last / "trainer_state.json").read_text())
            done = _finished(sp, last, start, args, out)
            if done:
                say(f"train {sp.name}: nothing to do: {done}")
                return None
    if last is None and state.is_main_process:
        remove_dir(ckpt)  # a fresh run; checkpoints of an earlier run would be mixed into this one
        ckpt.mkdir(parents=True)
        (ckpt / RUN_FILE).write_text(json.dumps({"run_id": uuid.uuid4().hex[:12]}) + "\n")
    state.wait_for_everyone()
    model = load_model(sp.config["model"], for_training=True)
    peft_config = lora_config(sp)
    if init_adapter is not None:  # continue an adapter (its rank and target modules), not a fresh LoRA
        from peft import PeftModel

        if not (Path(init_adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"{sp.name}: --init-adapter {init_adapter}: no adapter there")
        model, peft_config = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True), None
    trainer = SpecialistTrainer(model=model, args=args, train_dataset=train_rows, processing_class=tok,
                                peft_config=peft_config)
    held_out = (lambda when: _held_out_loss(sp, tok, trainer.model, ds["test"], when)) if test is not None \
        else (lambda when: None)
    with trainer.model.disable_adapter():  # the base, as `make eval` scores it (a resumed or continued run too)
        before = held_out("base")
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    wall = time.time() - t0
    after = held_out("adapter")
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    this_run = tokens - int(start.get("num_input_tokens_seen") or 0)  # tokens/s counts only what this run trained
    base = sp.config["model"]["model_name_or_path"]
    summary = {
        "specialist": sp.name, "language": sp.language, "base_model": base, "base_model_path": resolve_base(base),
        "run_id": _run_id(ckpt), "resumed_from": last.name if last else None,
        "init_adapter": str(init_adapter) if init_adapter else None, "global_step": trainer.state.global_step,
        "steps_this_run": trainer.state.global_step - int(start.get("global_step") or 0),
        "train_windows": len(ds["train"]), "test_windows": len(test) if test is not None else 0,
        "tokens_seen": tokens, "tokens_this_run": this_run, "train_loss": round(result.training_loss, 4),
        "wall_seconds": round(wall, 1), "tokens_per_second": round(this_run / wall, 1) if wall and this_run else None,
        # the held-out losses `make eval` reports as base and adapter loss (core.loss); TRL's own eval_loss is not kept
        "held_out_loss_base": before, "held_out_loss_adapter": after, "windows_over_max_length": report["over_max_length"],
        "truncation": report, "masking": how, "processes": state.num_processes,
        "lm_head_loss": "fused" if trainer.fused_lm_head else "plain",
        "data_fingerprint": _fingerprint(sp), "config": {k: sp.config[k] for k in ("model", "lora", "sft")},
    }
    _save(trainer, tok, out, summary, state)
    return summary


RUN_FILE = "run.json"  # checkpoints/run.json: the id of the run its checkpoints belong to


def _held_out_loss(sp: Specialist, tok, model, rows, when: str) -> float:
    """Eval's loss on the test split (core.loss), so that what training prints is what `make eval` reports; every
    process computes it (a sharded model's forward needs them all)."""
    from core.loss import held_out_loss

    return round(held_out_loss(model, tok, rows, sp.config["sft"].get("max_length"),
                               batch_size=int((sp.config.get("eval") or {}).get("batch_size") or 8),
                               progress=f"{sp.name}: held-out loss, {when}" if is_main_process() else None), 4)


def _run_id(ckpt: Path) -> str | None:
    try:
        return json.loads((ckpt / RUN_FILE).read_text()).get("run_id")
    except (OSError, ValueError):
        return None


def _finished(sp: Specialist, last: Path, start: dict[str, Any], args, out: Path) -> str | None:
    """Why a resume has nothing to do, or None: the checkpoint is at the configured end of training and the adapter
    and training_summary.json in outputs/<name>/ were saved by that same run at that step (else they are saved now)."""
    step = int(start.get("global_step") or 0)
    if args.max_steps > 0:
        end = args.max_steps
    elif start.get("num_train_epochs") == args.num_train_epochs:
        end = int(start.get("max_steps") or 0)
    else:
        return None
    if step < end:
        return None
    try:
        saved = json.loads((out / "training_summary.json").read_text())
    except (OSError, ValueError):
        return None
    run = _run_id(last.parent)
    if run is None or saved.get("run_id") != run or int(saved.get("global_step") or 0) < step or \
            not (out / "adapter").is_dir():
        return None
    return (f"{last.name} is at max_steps {end}, and {out}/adapter and training_summary.json are from that run; "
            f"raise max_steps to train further")


def _fingerprint(sp: Specialist) -> str | None:
    manifest = Path(sp.config["paths"]["data"]) / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text()).get("specialists", {}).get(sp.name, {}).get("fingerprint")
    return None


def _save(trainer, tok, out: Path, summary: dict[str, Any], state) -> None:
    """Write adapter/ and training_summary.json beside the checkpoints, both swapped in at once (core.atomic).

    Every process calls `save_model` (a sharded model is gathered across them); only the main one writes."""
    from contextlib import nullcontext

    from core.atomic import STAGING, Transaction

    staged = out / f"{STAGING}adapter" / "adapter"  # one name every process agrees on
    main = state.is_main_process
    with Transaction(out, what=f"train {summary['specialist']}", txid="adapter") if main else nullcontext() as tx:
        state.wait_for_everyone()
        trainer.save_model(str(staged))
        if main:
            tok.save_pretrained(str(staged))
            (staged / "training_args.bin").unlink(missing_ok=True)
            tx.write_text("training_summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    state.wait_for_everyone()
