"""Held-out loss throughput: the batched evaluation (core.loss.window_losses) against a plain loop, same windows.

    .venv/bin/python bench/eval.py                  # the demo's data and base if `make demo` left them in demo/
    .venv/bin/python bench/eval.py --batch-size 16 --repeats 5
    .venv/bin/python bench/eval.py --base smollm2 --repeats 1   # a real base: the data of `make demo BASE=smollm2`

Windows: every specialist's held-out (test) windows, encoded with the training mask and cut at sft.max_length, as
`python -m eval` encodes them. They come from demo/ (`make demo`); without it, a sample store, a tiny base of the
demo's shape (h128, vocab 4096; not pretrained, which changes no timing) and the datasets are built in a temporary
folder with the functions the tests use.

The plain loop runs one window at a time through the model, full logits, and sums the cross-entropy over trained
tokens. The batched evaluation must give the same loss for every window (asserted within 1e-4 per token); its speed
comes from computing less, not from approximating: see window_losses. Each mode runs --repeats times and the best
time counts; the modes take turns, so load from other processes falls on each of them alike. Throughput is held-out
window tokens per second (every token of a window; the trained ones are listed too).

Then the work each mode computed, counted, not timed: token positions through the model (padding included), logit
rows, and causal query-key pairs of attention (per layer and head). Batching on a CPU buys no parallelism the plain
loop lacks (both keep every core busy), so the speed-up can only come from that work, and the work ratio bounds it:
the positions after the shared prefix still attend to the whole window, exactly. The last line is
`eval: batched/one-at-a-time throughput ratio R`.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def real_base(name: str) -> tuple[Path, Path, int, str]:
    """(base folder, datasets folder, max_length, where from) for a real base: `make demo BASE=name`'s data."""
    from core import bases, config

    demo = config.read_overlay(REPO / "configs" / f"demo-{name}.yaml")
    data = REPO / demo["paths"]["data"]
    if not any(data.glob("*/data/test-*.parquet")):
        raise SystemExit(f"bench/eval.py --base {name}: no held-out data in {data}; run `make demo BASE={name}` first")
    return bases.prepare(demo["model"]["model_name_or_path"]), data, int(demo["sft"]["max_length"]), \
        f"{demo['paths']['data']} (make demo BASE={name})"


def demo_or_temp(tmp: Path) -> tuple[Path, Path, int, str]:
    """(base folder, datasets folder, max_length, where from): the demo's if present, else built under tmp."""
    from core import config

    demo = config.read_overlay(REPO / "configs" / "demo.yaml")  # with the tiny.yaml it extends
    max_length = int(demo["sft"]["max_length"])
    base, data = REPO / "demo" / "base", REPO / "demo" / "data"
    if (base / "config.json").is_file() and any(data.glob("*/data/test-*.parquet")):
        return base, data, max_length, "demo/ (make demo)"

    from extract.pipeline import Settings, run
    from sample.store import build_sample_store
    from sample.tiny_model import build_tiny_base, corpus_from_store

    print("no demo/ data: building a sample store, a tiny base and datasets in a temp folder", file=sys.stderr)
    store = build_sample_store(tmp / "store" / "opencode.db", seed=0, sessions_per_language=12)
    base = build_tiny_base(tmp / "base", list(corpus_from_store(store)), hidden_size=128, num_layers=2,
                           vocab_size=4096, seed=0)
    specs = config.specialists(overlay=REPO / "configs" / "demo.yaml")
    run(Settings(db=store, out=tmp / "data", specialists=specs, tokenizer=str(base), window_tokens=max_length,
                 tool_output_chars=demo["extract"]["tool_output_chars"],
                 test_fraction=demo["extract"]["test_fraction"]), progress=False)
    return base, tmp / "data", max_length, f"built in {tmp}"


def plain_work(encoded) -> Counter:
    """What the plain loop computes: every position of every window, its logits, full causal attention."""
    n = [len(e[1]) for e in encoded]
    return Counter(positions=sum(n), logits=sum(n), attention=sum(k * (k + 1) // 2 for k in n))


def plain_loop(model, encoded) -> list[tuple[float, int]]:
    """One window at a time, the whole window, full logits: what an evaluation loop looks like unbatched."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.no_grad():
        for _, ids, labels, _ in encoded:
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            target = torch.tensor(labels[1:])
            nll = F.cross_entropy(logits[:-1], target, ignore_index=-100, reduction="sum")
            out.append((float(nll), int((target != -100).sum())))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=8, help="as eval.batch_size (default 8)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--base", default=None, help="a real base (smollm2, gemma3): the data `make demo BASE=...` left")
    a = p.parse_args()

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from core.loss import encode, window_losses
    from core.data import load_specialist_dataset
    from core.masking import training_template
    from core.models import load_tokenizer, quiet_libraries

    quiet_libraries()
    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        base, data, max_length, where = real_base(a.base) if a.base else demo_or_temp(Path(tmp))
        tok = load_tokenizer({"model_name_or_path": str(base)})
        encoded = []
        for d in sorted(p for p in data.iterdir() if any(p.glob("data/test-*.parquet"))):
            encoded += encode(tok, load_specialist_dataset(d)["test"], training_template(tok), max_length)
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32).eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    tokens = sum(len(e[1]) for e in encoded)
    cfg = model.config
    print(f"data: {where}; {len(encoded)} held-out windows, {tokens} tokens "
          f"({sum(len(e[1]) for e in encoded) / max(1, len(encoded)):.0f} a window), "
          f"base h{cfg.hidden_size} x {cfg.num_hidden_layers} layers, vocab {cfg.vocab_size}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch size {a.batch_size}")

    modes = {
        "one at a time (plain loop)": lambda: plain_loop(model, encoded),
        "batched, no shared prefix": lambda: window_losses(model, encoded, batch_size=a.batch_size, pad_id=pad,
                                                           share_prefix=False),
        "batched (core.loss.window_losses)": lambda: window_losses(model, encoded, batch_size=a.batch_size,
                                                                   pad_id=pad),
    }
    plain_loop(model, encoded[:2])  # warm-up: first-call costs out of the timings
    window_losses(model, encoded[:2], batch_size=2, pad_id=pad)
    best: dict[str, float] = {}
    results: dict[str, list] = {}
    for _ in range(a.repeats):  # the modes take turns, so a busy machine slows each of them alike
        for name, fn in modes.items():
            t0 = time.perf_counter()
            results[name] = fn()
            best[name] = min(best.get(name, math.inf), time.perf_counter() - t0)
    figures = {}
    ref = None
    for name, result in results.items():
        seconds = best[name]
        pairs = [(r.nll, r.tokens) if hasattr(r, "nll") else r for r in result]
        if ref is None:
            ref = pairs
        worst = max(abs(x[0] / max(x[1], 1) - y[0] / max(y[1], 1)) for x, y in zip(pairs, ref))
        assert all(x[1] == y[1] for x, y in zip(pairs, ref)), f"{name}: trained-token counts differ"
        assert worst <= 1e-4, f"{name}: a window's loss differs from the plain loop's by {worst:.2e} per token"
        trained = sum(x[1] for x in pairs)
        loss = sum(x[0] for x in pairs) / trained
        figures[name] = tokens / seconds
        print(f"{name:36s} {seconds:7.3f} s  {tokens / seconds:9.0f} tokens/s  ({trained / seconds:7.0f} trained "
              f"tokens/s)  loss {loss:.5f}  max window diff {worst:.1e}/token")
    work = {"one at a time (plain loop)": plain_work(encoded)}
    for name, share in (("batched, no shared prefix", False), ("batched (core.loss.window_losses)", True)):
        work[name] = Counter()
        window_losses(model, encoded, batch_size=a.batch_size, pad_id=pad, share_prefix=share, work=work[name])
    ref = work["one at a time (plain loop)"]
    print("work computed (plain / mode in brackets):")
    for name, w in work.items():
        print(f"{name:36s} {w['positions']:7d} positions ({w['padding']} padding, {ref['positions'] / w['positions']:.2f}x)"
              f"  {w['logits']:7d} logit rows ({ref['logits'] / w['logits']:.2f}x)"
              f"  {w['attention'] / 1e6:6.1f}M attention pairs ({ref['attention'] / w['attention']:.2f}x)")
    plain, batched = figures["one at a time (plain loop)"], figures["batched (core.loss.window_losses)"]
    print(f"eval: batched/one-at-a-time throughput ratio {batched / plain:.2f}")


if __name__ == "__main__":
    main()
