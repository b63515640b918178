"""Next action: replay held-out assistant turns, generate each greedily from its history, and score the tool calls."""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any, Iterable

from .toolcalls import Parsed, ToolCall, TurnParser, normalise_arguments, recorded_calls, shell_program
from .verdicts import MIN_SESSIONS, judge

# The metrics, in report order: (key, label, what is counted).
METRICS = [
    ("next_action", "next action",
     "every turn: no call where the recorded turn has none, else a call to its first tool"),
    ("decision", "call decision", "every turn: a tool call where, and only where, the recorded turn has one"),
    ("tool_name", "tool name", "turns where both call a tool: the first call's tool"),
    ("arguments", "arguments", "turns where both call a tool: the first call's tool and arguments (JSON, keys sorted)"),
    ("shell_program", "shell program", "turns where both call and the recorded call runs a shell command: its program"),
]


@dataclass
class Turn:
    session_id: str
    history: list[dict[str, Any]]  # the window's messages before this assistant turn
    tools: list[dict[str, Any]] | None
    reference: list[ToolCall]  # the recorded turn's calls
    reference_text: str


@dataclass
class Generated:
    ids: list[int]  # the new tokens, up to and including the end-of-turn token when one came
    prompt: list[int]
    truncated: bool  # hit max_new_tokens before an end-of-turn token


def held_out_turns(rows: Iterable[dict[str, Any]], max_turns: int | None, seed: int = 0) -> tuple[list[Turn], int]:
    """Every assistant turn of the windows (each step is trained in exactly one window, so each counts once), or a
    seeded sample of max_turns of them in their original order; and how many there were."""
    turns = []
    for r in rows:
        msgs, tools = r["messages"], r.get("tools") or None
        if isinstance(tools, str):  # a JSON-string tools column
            tools = json.loads(tools) or None
        for i, m in enumerate(msgs):
            if m.get("role") == "assistant" and i > 0:
                content = m.get("content")
                turns.append(Turn(r["session_id"], msgs[:i], tools, recorded_calls(m),
                                  content if isinstance(content, str) else ""))
    available = len(turns)
    if max_turns is not None and available > max_turns:
        keep = sorted(random.Random(seed).sample(range(available), max_turns))
        turns = [turns[i] for i in keep]
    return turns, available


def _eos_ids(model, tok) -> list[int]:
    """Where a reply ends: the model's and tokenizer's end-of-sequence ids, and the template's end-of-turn tokens (a
    pretrained base such as Gemma 3 ends its generation config at <eos>, but a turn of its format at <end_of_turn>)."""
    from core.masking import end_of_turn_ids

    ids = set(end_of_turn_ids(tok))
    for src in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tok.eos_token_id):
        if isinstance(src, int):
            ids.add(src)
        elif src:
            ids.update(src)
    return sorted(ids)


def generate(model, tok, turns: list[Turn], *, batch_size: int = 8, max_new_tokens: int = 256,
             share_prefix: bool = True, progress: str | None = None) -> list[Generated]:
    """Greedy generation for each turn's history (with its tools), in batches.

    Turns sharing a prompt prefix (the system prompt and tools, and the window's history) are batched together; the
    batch's common prefix is computed once and its KV cache handed to `generate`, and each row's remainder is
    left-padded after it: [prefix][padding][rest]. Position ids come from the attention mask, so every row sees the
    same positions as alone.
    """
    import torch
    from transformers import GenerationConfig

    from core.loss import MIN_SHARED_PREFIX, batches, common_prefix, prefix_cache, progress_bar

    prompts = [list(tok.apply_chat_template(t.history, tools=t.tools, add_generation_prompt=True, tokenize=True,
                                            return_dict=True)["input_ids"]) for t in turns]
    pad = tok.pad_token_id if tok.pad_token_id is not None else (_eos_ids(model, tok) or [0])[0]
    eos = _eos_ids(model, tok)
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad,
                              eos_token_id=eos, bos_token_id=tok.bos_token_id)
    device = next(model.parameters()).device
    out: dict[int, Generated] = {}
    model.eval()
    with torch.no_grad(), progress_bar(progress, len(turns), "turn") as bar:
        for idx in batches(prompts, list(range(len(prompts))), batch_size, share_prefix):
            seqs = [prompts[i] for i in idx]
            shared = min(common_prefix(seqs[0], s) for s in seqs) if share_prefix and len(idx) > 1 else 0
            shared = min(shared, min(len(s) for s in seqs) - 1)  # every row keeps a token to run
            shared = shared if shared >= MIN_SHARED_PREFIX else 0
            width = max(len(s) for s in seqs)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            attn = torch.zeros((len(idx), width), dtype=torch.long)
            for row, s in enumerate(seqs):
                ids[row, :shared], attn[row, :shared] = torch.tensor(s[:shared]), 1
                ids[row, width - len(s) + shared:] = torch.tensor(s[shared:])
                attn[row, width - len(s) + shared:] = 1
            kwargs = {"past_key_values": prefix_cache(model, seqs[0][:shared], len(idx))} if shared else {}
            new = model.generate(input_ids=ids.to(device), attention_mask=attn.to(device), generation_config=config,
                                 **kwargs)[:, width:].tolist()
            for row, i in enumerate(idx):
                toks = new[row]
                end = next((k for k, t in enumerate(toks) if t in eos), None)
                out[i] = Generated(toks[:end + 1] if end is not None else toks, prompts[i], end is None)
            bar.update(len(idx))
    return [out[i] for i in range(len(turns))]


@dataclass
class TurnScore:
    session_id: str
    called: bool  # the model called a tool
    expected: bool  # the recorded turn called one
    truncated: bool
    values: dict[str, bool | None]  # metric -> right / wrong / not counted on this turn


def score_turn(pred: list[ToolCall], ref: list[ToolCall], session_id: str = "", truncated: bool = False) -> TurnScore:
    """One turn's metrics (METRICS): the first call of each side is the next action."""
    called, expected = bool(pred), bool(ref)
    v: dict[str, bool | None] = {k: None for k, _, _ in METRICS}
    v["decision"] = called == expected
    if called and expected:
        p, r = pred[0], ref[0]
        v["tool_name"] = p.name == r.name
        a = normalise_arguments(p.arguments)
        v["arguments"] = v["tool_name"] and a is not None and a == normalise_arguments(r.arguments)
        program = shell_program(r)
        if program is not None:
            v["shell_program"] = shell_program(p) == program
    v["next_action"] = v["decision"] and (not expected or bool(v["tool_name"]))
    return TurnScore(session_id, called, expected, truncated, v)


def score(preds: list[Parsed], gens: list[Generated] | None, turns: list[Turn]) -> list[TurnScore]:
    return [score_turn(p.calls, t.reference, t.session_id, bool(g and g.truncated))
            for p, g, t in zip(preds, gens or [None] * len(turns), turns)]


def rates(scores: list[TurnScore]) -> dict[str, dict[str, Any]]:
    """metric -> {"correct", "total", "rate"} over the turns it is counted on."""
    out = {}
    for key, _, _ in METRICS:
        vals = [s.values[key] for s in scores if s.values[key] is not None]
        out[key] = {"correct": sum(vals), "total": len(vals), "rate": round(sum(vals) / len(vals), 4) if vals else None}
    return out


def bootstrap_rates(a: list[TurnScore], b: list[TurnScore], *, samples: int = 1000,
                    seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """95% intervals by resampling sessions: metric -> {"a", "b", "delta" (b - a)}; turns of a and b pair up."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(a):
        groups.setdefault(s.session_id, []).append(i)
    sessions = list(groups.values())
    rng = random.Random(seed)
    picks = [[i for _ in sessions for i in sessions[rng.randrange(len(sessions))]] for _ in range(samples)] \
        if sessions else []

    def rate(scores, pick, key):
        vals = [scores[i].values[key] for i in pick if scores[i].values[key] is not None]
        return sum(vals) / len(vals) if vals else math.nan

    def ci(xs):
        xs = sorted(x for x in xs if not math.isnan(x))
        return [round(xs[int(0.025 * (len(xs) - 1))], 4), round(xs[int(0.975 * (len(xs) - 1))], 4)] if xs else []

    out = {}
    for key, _, _ in METRICS:
        ra = [rate(a, p, key) for p in picks]
        rb = [rate(b, p, key) for p in picks]
        out[key] = {"a": ci(ra), "b": ci(rb), "delta": ci([y - x for x, y in zip(ra, rb)])}
    return out


def run_side(model, tok, parser: TurnParser, turns: list[Turn], *, batch_size: int,
             max_new_tokens: int, progress: str | None = None) -> tuple[list[Parsed], list[Generated], list[TurnScore]]:
    """Generate, parse and score every turn with the model as it is (adapter on, off, or another one active)."""
    gens = generate(model, tok, turns, batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress)
    preds = [parser(g.ids, prefix=g.prompt, tools=t.tools) for g, t in zip(gens, turns)]
    return preds, gens, score(preds, gens, turns)


def _call_dict(c: ToolCall) -> dict[str, Any]:
    return {"name": c.name, "arguments": c.arguments}


def sample(turn: Turn, sides: dict[str, tuple[Parsed, TurnScore]], chars: int = 300) -> dict[str, Any]:
    """One turn for the report: what was recorded, and what each side generated (text cut to `chars`)."""
    out: dict[str, Any] = {"session_id": turn.session_id,
                           "recorded": {"text": turn.reference_text[:chars],
                                        "calls": [_call_dict(c) for c in turn.reference]}}
    for name, (p, s) in sides.items():
        out[name] = {"text": p.text[:chars], "calls": [_call_dict(c) for c in p.calls], "truncated": s.truncated,
                     "next_action": s.values["next_action"]}
    return out


def evaluate_turns(model, tok, turns: list[Turn], available: int, *, batch_size: int, max_new_tokens: int,
                   samples: int = 3, min_sessions: int | None = None, progress: str | None = None) -> dict[str, Any]:
    """Base (adapter disabled) and adapter on the same turns: counts, rates, intervals and a few examples.
    `progress`: a name for the progress bars (None: none)."""
    parser = TurnParser(tok)
    label = (lambda side: f"{progress}: next action, {side}") if progress else (lambda side: None)
    with model.disable_adapter():  # the base: the same weights in memory, the adapter switched off
        pa, _, base = run_side(model, tok, parser, turns, batch_size=batch_size, max_new_tokens=max_new_tokens,
                               progress=label("base"))
    pb, _, tuned = run_side(model, tok, parser, turns, batch_size=batch_size, max_new_tokens=max_new_tokens,
                            progress=label("adapter"))
    ci = bootstrap_rates(base, tuned)
    result: dict[str, Any] = {
        "turns": len(turns), "turns_available": available, "max_new_tokens": max_new_tokens, "parser": parser.kind,
        "recorded_with_call": sum(t.reference != [] for t in turns),
        "sessions": len({t.session_id for t in turns}),
    }
    if min_sessions is not None:
        result["min_sessions"] = min_sessions
    for side, scores in (("base", base), ("adapter", tuned)):
        r = rates(scores)
        for key, _, _ in METRICS:
            r[key]["ci95"] = ci[key]["a" if side == "base" else "b"]
        result[side] = {"metrics": r, "with_call": sum(s.called for s in scores),
                        "truncated": sum(s.truncated for s in scores)}
    result["delta_ci95"] = {key: ci[key]["delta"] for key, _, _ in METRICS}
    result["verdict"] = verdict(result)
    result["samples"] = [sample(t, {"base": (pa[i], base[i]), "adapter": (pb[i], tuned[i])})
                         for i, t in enumerate(turns[:samples])]
    return result


def verdict(r: dict[str, Any]) -> str:
    """The next-action verdict: the change in next-action accuracy, judged as the loss is (eval/verdicts.py)."""
    return judge(r.get("sessions"), r.get("min_sessions", MIN_SESSIONS), r["delta_ci95"].get("next_action") or [],
                 better="above", measure="next-action accuracy")
