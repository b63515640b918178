"""Held-out assistant-token loss, batched, with exactly the mask training uses."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Iterable

from train.masking import tokenize


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


def window_losses(model, encoded, *, batch_size: int = 8, pad_id: int = 0) -> list[WindowLoss]:
    """Per-window summed NLL over trained tokens; right-padded batches sorted by length (same numbers as one at a time)."""
    import torch
    import torch.nn.functional as F

    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][1]))
    results: dict[int, WindowLoss] = {}
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            width = max(len(encoded[i][1]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            labels = torch.full((len(idx), width), -100, dtype=torch.long)
            attn = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                n = len(encoded[i][1])
                ids[row, :n] = torch.tensor(encoded[i][1])
                labels[row, :n] = torch.tensor(encoded[i][2])
                attn[row, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
            shift_logits, shift_labels = logits[:, :-1], labels[:, 1:].to(device)
            nll = F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1),
                                  ignore_index=-100, reduction="none").view(len(idx), -1)
            counts = (shift_labels != -100).sum(dim=1)
            for row, i in enumerate(idx):
                results[i] = WindowLoss(encoded[i][0], float(nll[row].sum()), int(counts[row]), encoded[i][3])
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
