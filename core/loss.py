"""Held-out assistant-token loss, batched, with exactly the mask training uses: the one loss train and eval report."""
from __future__ import annotations

import math
import random
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable

from .masking import tokenize, training_template


def with_adapters(model_cfg: dict[str, Any], adapters: dict[str, Any]):
    """The base with every adapter of {name: folder} loaded onto it once, under its name (PEFT): the matrix and the
    cycle's gate score several adapters on one base in memory, switched with `active`."""
    from peft import PeftModel

    from .models import load_model

    names = list(adapters)
    model = PeftModel.from_pretrained(load_model(model_cfg), str(adapters[names[0]]), adapter_name=names[0])
    for n in names[1:]:
        model.load_adapter(str(adapters[n]), adapter_name=n)
    return model


@contextmanager
def active(model, adapter: str | None):
    """`adapter` switched on for the block; None: the base, every adapter off (PEFT's disable_adapter)."""
    if adapter is None:
        with model.disable_adapter():
            yield model
    else:
        model.set_adapter(adapter)
        yield model


@dataclass
class WindowLoss:
    session_id: str
    nll: float  # summed over the window's trained tokens
    tokens: int  # trained (assistant) tokens
    bytes: int  # UTF-8 bytes of those tokens' text, for bits per byte


def encode(tok, rows: Iterable[dict[str, Any]], chat_template: str | None, max_length: int | None):
    """Token ids and labels (-100 outside the assistant mask), cut like SFTTrainer cuts (keep the start)."""
    out = []
    for r in rows:
        ids, mask = tokenize(tok, r["messages"], r["tools"], chat_template)
        if max_length:
            ids, mask = ids[:max_length], mask[:max_length]
        labels = [i if m else -100 for i, m in zip(ids, mask)]
        trained = [i for i, m in zip(ids, mask) if m]
        out.append((r["session_id"], ids, labels, len(tok.decode(trained).encode("utf-8")) if trained else 0))
    return out


MIN_SHARED_PREFIX = 32  # tokens; shorter common prefixes are not worth a separate forward


def _targets(labels: list[int]) -> list[int]:
    """Positions whose token is scored: trained (label != -100) and not the first (nothing predicts it)."""
    return [t for t in range(1, len(labels)) if labels[t] != -100]


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def batches(seqs: list[list[int]], indices: list[int], batch_size: int, share_prefix: bool) -> list[list[int]]:
    """Indices of seqs in batches: sequences sharing a prefix (system prompt and tools) together, then by length."""
    groups = prefix_groups(seqs, indices) if share_prefix else [list(indices)]
    return [batch for g in groups for batch in by_length(seqs, g, batch_size)]


def by_length(seqs, group: list[int], batch_size: int) -> list[list[int]]:
    """The group's indices in batches of `batch_size`, shortest sequences first: little padding in each."""
    g = sorted(group, key=lambda i: len(seqs[i]))
    return [g[b:b + batch_size] for b in range(0, len(g), batch_size)]


def prefix_groups(seqs: list[list[int]], indices: list[int]) -> list[list[int]]:
    """Indices of seqs grouped by a common prefix of at least MIN_SHARED_PREFIX tokens (lexicographic neighbours)."""
    groups: list[list[int]] = []
    for i in sorted(indices, key=lambda i: seqs[i]):  # lexicographic: a shared prefix makes neighbours
        if groups and common_prefix(seqs[groups[-1][0]], seqs[i]) >= MIN_SHARED_PREFIX:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def prefix_cache(model, prefix: list[int], copies: int):
    """The KV cache of `prefix`, computed once and repeated for a batch of `copies` rows."""
    cache = _prefix_forward(model, prefix)
    cache.batch_repeat_interleave(copies)
    return cache


def _prefix_forward(model, prefix: list[int]):
    import torch

    device = next(model.parameters()).device
    return model(input_ids=torch.tensor([prefix], device=device), use_cache=True, logits_to_keep=1).past_key_values


def progress_bar(desc: str | None, total: int, unit: str):
    """A progress bar on a terminal's stderr for a long loop (None: none). Not in a log file or a captured stream,
    where a stage's own lines are what a reader (or a test expecting one error line) needs."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=desc is None or not sys.stderr.isatty(), file=sys.stderr,
                leave=False, mininterval=0.5)


def window_losses(model, encoded, *, batch_size: int = 8, pad_id: int = 0, share_prefix: bool = True,
                  work: Counter | None = None, progress: str | None = None) -> list[WindowLoss]:
    """Per-window summed NLL over trained tokens, batched; the same numbers as one window at a time.

    `work`, if given, counts what was computed: `positions` (token positions through the model, padding
    included), `padding`, `logits` (positions whose logits were computed) and `attention` (query-key pairs per
    layer and head, the causal ones a kernel must compute): bench/eval.py prints it beside the timings.

    What makes it fast without changing a number:
    - each window ends at its last trained token (later tokens change no scored logit);
    - windows sharing a prefix (the system prompt and the tool definitions, most of a short window) form a group
      whose common prefix runs once; its KV cache is copied into every batch of the group, which runs only the rest
      of each window;
    - within a group, batches take windows of similar length (sorted), so little padding is computed;
    - right padding and no attention mask: in a causal model a real token never sees the padding after it;
    - logits only at the positions that predict a trained token (`logits_to_keep` as a boolean mask).
    """
    import copy

    import torch
    import torch.nn.functional as F

    results: dict[int, WindowLoss] = {}
    targets = {}
    for i, (sid, ids, labels, nbytes) in enumerate(encoded):
        targets[i] = _targets(labels)
        if not targets[i]:
            results[i] = WindowLoss(sid, 0.0, 0, nbytes)
    scored = [i for i in range(len(encoded)) if targets[i]]
    seqs = {i: encoded[i][1][:targets[i][-1] + 1] for i in scored}
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), progress_bar(progress, len(scored), "window") as bar:
        for group in prefix_groups(seqs, scored) if share_prefix else [scored]:
            shared = 0
            if share_prefix and len(group) > 1:
                shared = min(common_prefix(seqs[group[0]], seqs[i]) for i in group)
                shared = min(shared, min(targets[i][0] for i in group) - 1)  # every scored logit after the prefix
                shared = shared if shared >= MIN_SHARED_PREFIX else 0
            prefix = _prefix_forward(model, seqs[group[0]][:shared]) if shared else None
            if work is not None and shared:
                work.update(positions=shared, logits=1, attention=shared * (shared + 1) // 2)
            group_batches = by_length(seqs, group, batch_size)
            for b, idx in enumerate(group_batches):
                width = max(len(seqs[i]) for i in idx) - shared
                ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
                for row, i in enumerate(idx):
                    ids[row, :len(seqs[i]) - shared] = torch.tensor(seqs[i][shared:])
                # the logit at t-1 predicts token t; row-major order, the order of the boolean selection below
                rows = torch.tensor([row for row, i in enumerate(idx) for _ in targets[i]])
                cols = torch.tensor([t - 1 - shared for i in idx for t in targets[i]])
                gold = torch.tensor([seqs[i][t] for i in idx for t in targets[i]], device=device)
                keep = torch.zeros((len(idx), width), dtype=torch.bool)
                keep[rows, cols] = True
                if work is not None:
                    work.update(positions=len(idx) * width, logits=len(cols),
                                padding=sum(width - (len(seqs[i]) - shared) for i in idx),
                                attention=len(idx) * (width * shared + width * (width + 1) // 2))
                kwargs = {}
                if prefix is not None:
                    cache = copy.deepcopy(prefix) if b < len(group_batches) - 1 else prefix  # the last batch takes it
                    cache.batch_repeat_interleave(len(idx))
                    kwargs = {"past_key_values": cache, "use_cache": True}
                logits = model(input_ids=ids.to(device), logits_to_keep=keep.to(device), **kwargs).logits
                if logits.dim() == 3:  # a model whose forward does not take a boolean logits_to_keep: all positions
                    logits = logits[keep.to(device)]
                nll = F.cross_entropy(logits.float(), gold, reduction="none")
                sums = torch.zeros(len(idx), dtype=torch.float64, device=device).index_add_(0, rows.to(device),
                                                                                             nll.double())
                for row, i in enumerate(idx):
                    results[i] = WindowLoss(encoded[i][0], float(sums[row]), len(targets[i]), encoded[i][3])
                bar.update(len(idx))
    return [results[i] for i in range(len(encoded))]


def mean_loss(ws: list[WindowLoss]) -> float:
    n = sum(w.tokens for w in ws)
    return sum(w.nll for w in ws) / n if n else float("nan")


def bits_per_byte(ws: list[WindowLoss]) -> float:
    b = sum(w.bytes for w in ws)
    return sum(w.nll for w in ws) / math.log(2) / b if b else float("nan")


def bootstrap(ws_a: list[WindowLoss], ws_b: list[WindowLoss] | None = None, *, samples: int = 1000,
              seed: int = 0) -> dict[str, list[float]]:
    """95% intervals by resampling sessions (a session's windows move together): loss of a, of b, and b - a."""
    by_session: dict[str, list[int]] = {}
    for i, w in enumerate(ws_a):
        by_session.setdefault(w.session_id, []).append(i)
    groups = list(by_session.values())
    rng = random.Random(seed)
    stats: dict[str, list[float]] = {"a": [], "b": [], "delta": []}
    for _ in range(samples):
        pick = [i for _ in groups for i in groups[rng.randrange(len(groups))]]
        la = mean_loss([ws_a[i] for i in pick])
        stats["a"].append(la)
        if ws_b is not None:
            lb = mean_loss([ws_b[i] for i in pick])
            stats["b"].append(lb)
            stats["delta"].append(lb - la)

    def ci(xs: list[float]) -> list[float]:
        xs = sorted(x for x in xs if not math.isnan(x))
        return [round(xs[int(0.025 * (len(xs) - 1))], 4), round(xs[int(0.975 * (len(xs) - 1))], 4)] if xs else []

    return {k: ci(v) for k, v in stats.items() if v}


def held_out_loss(model, tok, rows, max_length: int | None, *, batch_size: int = 8,
                  progress: str | None = None) -> float:
    """The mean loss over the trained tokens of these windows, as `python -m eval` computes it (the same encoding,
    mask, truncation and batching): training's "held-out loss before -> after" is eval's base and adapter loss."""
    was_training = model.training
    encoded = encode(tok, rows, training_template(tok), max_length)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    try:
        return mean_loss(window_losses(model, encoded, batch_size=batch_size, pad_id=pad, progress=progress))
    finally:
        model.train(was_training)
