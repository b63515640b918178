"""Cut a session at turn boundaries into chat windows that fit a token budget."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from core.config import ConfigError
from .opencode import cut_text
from .records import Session, Step

CHARS_PER_TOKEN = 3.0  # the estimate without a tokenizer: code and JSON run at about 3-3.5 chars a token
MESSAGE_OVERHEAD = 6  # role markers and separators a chat template adds around each message
CALL_OVERHEAD = 8  # the tags around one rendered tool call (<tool_call>...</tool_call> and the like)
MIN_OUTPUT_CHARS = 120  # the smallest head+tail an over-long tool output is cut to (marker included)

Counter_ = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def tokenizer_counter(tokenizer) -> Counter_:
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0


def step_messages(step: Step) -> list[dict[str, Any]]:
    """One assistant message (text, then its tool calls) followed by one tool message per call."""
    msg: dict[str, Any] = {"role": "assistant", "content": step.text}
    if step.reasoning:
        msg["reasoning_content"] = step.reasoning
    if step.tool_calls:
        msg["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                             for c in step.tool_calls]
    return [msg] + [{"role": "tool", "tool_call_id": c.id, "name": c.name, "content": c.output}
                    for c in step.tool_calls]


def message_tokens(msg: dict[str, Any], count: Counter_, overheads: tuple[int, int] = (MESSAGE_OVERHEAD, CALL_OVERHEAD)) \
        -> int:
    n = overheads[0] + count(msg.get("content") or "") + count(msg.get("reasoning_content") or "")
    for tc in msg.get("tool_calls") or []:  # templates render a call as {"name": ..., "arguments": {...}}
        n += overheads[1] + count(json.dumps({"name": tc["function"]["name"],
                                               "arguments": tc["function"]["arguments"]}, ensure_ascii=False))
    return n


@dataclass
class TemplateMeasure:
    """Window sizes as the chat template that training uses renders them (extract.tokenizer is the base's)."""
    tokenizer: Any
    overheads: tuple[int, int] = (MESSAGE_OVERHEAD, CALL_OVERHEAD)  # per message, per tool call, measured
    _seen: dict = field(default_factory=dict)

    def __post_init__(self):
        self.overheads = _measured_overheads(self.tokenizer, self._render)

    def _render(self, messages, tools=None) -> int:
        return len(self.tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=True,
                                                      return_dict=True)["input_ids"])

    def header(self, system: str, tools: list[dict[str, Any]]) -> int | None:
        """The exact tokens of a window's opening (system prompt and tool definitions); None where the template
        refuses a conversation of only a system message."""
        key = (system, tuple(_tool_text(t) for t in tools))
        if key not in self._seen:
            if len(self._seen) >= 1024:
                self._seen.clear()
            try:
                self._seen[key] = self._render([{"role": "system", "content": system}], tools)
            except Exception:  # jinja2's own errors: the estimate is used
                self._seen[key] = None
        return self._seen[key]


def _measured_overheads(tokenizer, render) -> tuple[int, int]:
    """The tokens a template adds around a message and around a tool call, beyond their text (at least the defaults):
    measured on a short conversation, each message's render minus its text's tokens."""
    count = tokenizer_counter(tokenizer)
    call = {"id": "c1", "type": "function", "function": {"name": "read", "arguments": json.dumps({"path": "a.py"})}}
    convo = [{"role": "system", "content": "You are a coding agent."}, {"role": "user", "content": "Fix a.py."},
             {"role": "assistant", "content": "Reading it."},
             {"role": "user", "content": "Go on."},
             {"role": "assistant", "content": "Reading it.", "tool_calls": [call]},
             {"role": "tool", "tool_call_id": "c1", "name": "read", "content": "print(1)"},
             {"role": "tool", "tool_call_id": "c1", "name": "read", "content": "print(2)"}]
    try:
        sizes = [render(convo[:i]) for i in range(2, len(convo) + 1)]
    except Exception:  # a template that refuses one of the prefixes: the defaults
        return MESSAGE_OVERHEAD, CALL_OVERHEAD
    per_message = max(MESSAGE_OVERHEAD, *(b - a - count(m["content"]) for a, b, m in
                                          zip(sizes, sizes[1:], convo[2:]) if "tool_calls" not in m))
    with_call = sizes[3] - sizes[2] - count(convo[4]["content"]) - per_message
    per_call = max(CALL_OVERHEAD, with_call - count(json.dumps({"name": "read", "arguments": {"path": "a.py"}})))
    return per_message, per_call


def tools_tokens(tools: list[dict[str, Any]], count: Counter_) -> int:
    """Tool definitions as templates render them: one JSON object a line."""
    return count("".join(_tool_text(t) + "\n" for t in tools))


_TOOL_TEXT: dict[int, tuple[dict, str]] = {}  # id -> (definition, its JSON): the known toolsets come back every session


def _tool_text(tool: dict[str, Any]) -> str:
    hit = _TOOL_TEXT.get(id(tool))
    if hit is not None and hit[0] is tool:
        return hit[1]
    text = json.dumps(tool, ensure_ascii=False)
    if len(_TOOL_TEXT) >= 4096:  # a session's own tools are new objects: keep the table small
        _TOOL_TEXT.clear()
    _TOOL_TEXT[id(tool)] = (tool, text)
    return text


@dataclass
class Window:
    messages: list[dict[str, Any]]
    first_turn: int
    n_steps: int
    tokens: int  # the estimate (or tokenizer count) the window was built with


@dataclass
class WindowStats:
    windows: int = 0
    steps: int = 0
    cut_steps: int = 0  # steps whose tool outputs were cut to fit the budget
    over_budget_steps: int = 0  # still over with their outputs cut (long text or arguments): kept whole, reported
    prompts_cut: int = 0

    def add(self, other: "WindowStats") -> None:
        """Count another's windows and steps in (a worker's, per session)."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Windower:
    system_prompt: str
    tools: list[dict[str, Any]]
    budget: int
    count: Counter_ = field(default=estimate_tokens)
    measure: TemplateMeasure | None = None  # the base's template (extract.tokenizer): exact openings, overheads

    def __post_init__(self):
        exact = self.measure.header(self.system_prompt, self.tools) if self.measure else None
        self.overheads = self.measure.overheads if self.measure else (MESSAGE_OVERHEAD, CALL_OVERHEAD)
        self.header = exact if exact is not None else \
            self.overheads[0] + self.count(self.system_prompt) + tools_tokens(self.tools, self.count)
        if self.header > self.budget * 3 // 4:  # under a quarter of the budget left for the conversation
            raise ConfigError(f"window budget of {self.budget} tokens leaves no room: the system prompt and tool "
                             f"definitions alone take {self.header}; raise extract.window_tokens / sft.max_length")

    def windows(self, session: Session, stats: WindowStats) -> list[Window]:
        """Every step in exactly one window; each window opens with the system prompt and the prompt it answers."""
        out: list[Window] = []
        system = {"role": "system", "content": self.system_prompt}
        cur: Window | None = None
        room = self.budget - self.header
        for ti, turn in enumerate(session.turns):
            prompt_text, cut = self._cut_prompt(turn.prompt, room // 2)
            stats.prompts_cut += cut
            user = {"role": "user", "content": prompt_text}
            user_tokens = self.overheads[0] + self.count(prompt_text)
            prompt_in_cur = False
            for step in turn.steps:
                msgs = step_messages(step)
                tokens = sum(message_tokens(m, self.count, self.overheads) for m in msgs)
                extra = 0 if prompt_in_cur else user_tokens
                if cur is None or cur.tokens + extra + tokens > self.budget:
                    if tokens > room - user_tokens:
                        msgs, tokens = self._fit(step, room - user_tokens, stats)
                    cur = Window(messages=[system, user], first_turn=ti, n_steps=0, tokens=self.header + user_tokens)
                    out.append(cur)
                elif not prompt_in_cur:
                    cur.messages.append(user)
                    cur.tokens += user_tokens
                prompt_in_cur = True
                cur.messages.extend(msgs)
                cur.tokens += tokens
                cur.n_steps += 1
                stats.steps += 1
        stats.windows += len(out)
        return out

    def _cut_prompt(self, prompt: str, limit: int) -> tuple[str, bool]:
        """The prompt, its head and tail kept, within `limit` tokens as this Windower counts them (a tokenizer's
        tokens can be far from 3 characters: the cut shrinks until the count fits)."""
        if self.count(prompt) <= limit:
            return prompt, False
        chars = int(limit * CHARS_PER_TOKEN)
        while True:
            text, _ = cut_text(prompt, chars)
            tokens = self.count(text)
            if tokens <= limit or chars <= MIN_OUTPUT_CHARS:
                return text, True
            chars = max(MIN_OUTPUT_CHARS, min(chars - 1, int(chars * limit / tokens)))

    def _fit(self, step: Step, room: int, stats: WindowStats) -> tuple[list[dict], int]:
        """Fit a step larger than the budget by cutting its tool outputs, longest first (head and tail kept).

        The assistant's own text, reasoning and call arguments are what is trained: they are never changed. A step
        whose trained part alone is over the budget is kept whole and counted (over_budget_steps)."""
        originals = [c.output for c in step.tool_calls]
        sizes = [len(t) for t in originals]
        while True:
            cut = [cut_text(t, n)[0] for t, n in zip(originals, sizes)]
            msgs = step_messages(_with(step, step.text, cut))
            tokens = sum(message_tokens(m, self.count, self.overheads) for m in msgs)
            if tokens <= room:
                stats.cut_steps += cut != originals
                return msgs, tokens
            outputs = [i for i in range(len(sizes)) if sizes[i] > MIN_OUTPUT_CHARS]
            if not outputs:  # what is left is trained text and arguments, which are never changed
                stats.cut_steps += cut != originals
                stats.over_budget_steps += 1
                return msgs, tokens
            i = max(outputs, key=lambda j: sizes[j])
            sizes[i] = max(MIN_OUTPUT_CHARS, sizes[i] // 2)


def _with(step: Step, text: str, outputs: list[str]) -> Step:
    from dataclasses import replace

    return replace(step, text=text, tool_calls=[replace(c, output=o) for c, o in zip(step.tool_calls, outputs)])
