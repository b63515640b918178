"""Which tokens are trained: render a window with its tools and mark the assistant's output tokens.

Three ways to find the assistant's tokens, tried in this order (`method` says which one a tokenizer gets):
- "markers": the tokenizer's own chat template has `{% generation %}` markers; transformers returns the mask.
- "patched": TRL ships a patched, marker-carrying copy of this exact template (`get_training_chat_template`).
- "diff": neither; the template is rendered up to before each assistant turn (with the generation prompt) and up to
  the end of that turn, and the token ids are diffed (axolotl's approach). The turn's end-of-turn token is trained,
  whatever the template writes after it (a newline) is not.
`tokenize` gives the same ids and mask for all three, and training, `--inspect` and eval all call it.
"""
from __future__ import annotations

import json
import os
from typing import Any

ANSI_TRAINED, ANSI_MASKED, ANSI_RESET = "\033[32m", "\033[2m", "\033[0m"
# End-of-turn tokens of common chat formats; the diff method trains up to the last one inside an assistant turn.
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>",
               "<｜end▁of▁sentence｜>", "<|return|>", "<|call|>", "<|end_of_text|>")


class TemplateError(ValueError):
    """The chat template cannot be masked: the message says which turn and why."""


def _template_text(template) -> str | None:
    return template.get("default") if isinstance(template, dict) else template


def method(tokenizer) -> str:
    """"markers", "patched" or "diff": how the assistant mask of this tokenizer's template is found."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if not _template_text(tokenizer.chat_template):
        raise TemplateError("the tokenizer has no chat template; set sft.chat_template_path to a .jinja file")
    if has_generation_markers(tokenizer.chat_template):
        return "markers"
    try:
        return "patched" if get_training_chat_template(tokenizer) else "markers"
    except ValueError:  # TRL knows no patched copy of this template
        return "diff"


def training_template(tokenizer) -> str | None:
    """The template to render with: TRL's patched copy when it has one, else None (the tokenizer's own)."""
    from trl.chat_template_utils import get_training_chat_template

    return get_training_chat_template(tokenizer) if method(tokenizer) == "patched" else None


def parse_tools(tools):
    tools = json.loads(tools) if isinstance(tools, str) else tools  # TRL reads a JSON-string column the same way
    return tools or None


def tokenize(tokenizer, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | str | None,
             chat_template: str | None = None) -> tuple[list[int], list[int]]:
    """Token ids and the assistant mask (1 = trained), exactly as SFTTrainer's assistant_only_loss computes them."""
    from trl.chat_template_utils import has_generation_markers

    template = chat_template or tokenizer.chat_template
    tools = parse_tools(tools)
    if has_generation_markers(template):
        out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True, chat_template=chat_template)
        return list(out["input_ids"]), list(out["assistant_masks"])
    return diff_tokenize(tokenizer, messages, tools, chat_template)


def _render(tokenizer, messages, tools, chat_template, generation_prompt: bool = False) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                        add_generation_prompt=generation_prompt, chat_template=chat_template)
    return list(out["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def end_of_turn_ids(tokenizer) -> set[int]:
    vocab = tokenizer.get_vocab()
    ids = {vocab[t] for t in END_OF_TURN if t in vocab}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def diff_tokenize(tokenizer, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                  chat_template: str | None = None) -> tuple[list[int], list[int]]:
    """The template-agnostic mask: for each assistant turn, diff the render before it and the render through it."""
    ids = _render(tokenizer, messages, tools, chat_template)
    mask = [0] * len(ids)
    eot = end_of_turn_ids(tokenizer)
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        try:
            before = _render(tokenizer, messages[:i], tools, chat_template, generation_prompt=True)
        except Exception:  # jinja2's own errors: many templates refuse an empty conversation
            if i:
                raise TemplateError(f"the chat template cannot render the conversation before message {i}") from None
            before = []
        try:
            through = _render(tokenizer, messages[:i + 1], tools, chat_template)
        except Exception as e:
            raise TemplateError(f"the chat template cannot render the conversation up to message {i}: {e}") from None
        if ids[:len(through)] != through:
            raise TemplateError(
                f"the chat template renders the conversation up to message {i} differently from the whole "
                f"conversation (it is not prefix-preserving), so the assistant tokens cannot be found by diffing; "
                f"add {{% generation %}} markers to the template (sft.chat_template_path)")
        start = _common_prefix(before, through)
        ends = [j for j in range(start, len(through)) if through[j] in eot]
        end = ends[-1] + 1 if ends else len(through)
        mask[start:end] = [1] * (end - start)
    return ids, mask


def colour(tokenizer, ids: list[int], mask: list[int], plain: bool | None = None) -> str:
    """The decoded window with trained tokens in green and masked ones dimmed; plain (or NO_COLOR set): the trained
    text between ⟦ and ⟧."""
    plain = bool(os.environ.get("NO_COLOR")) if plain is None else plain

    def paint(run: list[int], trained: bool) -> str:
        text = tokenizer.decode(run)
        if plain:
            return f"⟦{text}⟧" if trained else text
        return (ANSI_TRAINED if trained else ANSI_MASKED) + text + ANSI_RESET

    out, run, cur = [], [], None
    for i, m in zip(ids, mask):
        if m != cur and run:
            out.append(paint(run, bool(cur)))
            run = []
        cur = m
        run.append(i)
    if run:
        out.append(paint(run, bool(cur)))
    return "".join(out)
