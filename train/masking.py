"""Which tokens are trained: render a window with its tools and mark the assistant's output tokens."""
from __future__ import annotations

from typing import Any

ANSI_TRAINED, ANSI_MASKED, ANSI_RESET = "\033[32m", "\033[2m", "\033[0m"


def training_template(tokenizer) -> str | None:
    """The template TRL trains with: the tokenizer's own when it has {% generation %} markers, else TRL's patched one."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return None
    return get_training_chat_template(tokenizer)


def tokenize(tokenizer, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
             chat_template: str | None = None) -> tuple[list[int], list[int]]:
    """Token ids and the assistant mask (1 = trained), exactly as SFTTrainer's assistant_only_loss computes them."""
    out = tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True, chat_template=chat_template)
    return list(out["input_ids"]), list(out["assistant_masks"])


def colour(tokenizer, ids: list[int], mask: list[int]) -> str:
    """The decoded window with trained tokens in green and masked ones dimmed."""
    out, run, cur = [], [], None
    for i, m in zip(ids, mask):
        if m != cur and run:
            out.append((ANSI_TRAINED if cur else ANSI_MASKED) + tokenizer.decode(run) + ANSI_RESET)
            run = []
        cur = m
        run.append(i)
    if run:
        out.append((ANSI_TRAINED if cur else ANSI_MASKED) + tokenizer.decode(run) + ANSI_RESET)
    return "".join(out)
