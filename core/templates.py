"""Which chat template every stage renders with: the base's own when it trains tool calls, else its family's format.

A base's template must write the tool definitions and an assistant's tool calls, or the calls (most of what a coding
agent's assistant writes) silently fall out of training, evaluation and serving. `resolve` decides once per tokenizer,
the same way in every stage:
1. `sft.chat_template_path` (a .jinja file), when set: the user's choice, probed like any other;
2. the base's own template, when a probe conversation rendered through it shows the tool schema, and the call's name
   and arguments inside the assistant mask;
3. otherwise the tool format of the base's family (the token that opens a turn says which): for ChatML models
   (SmolLM2, Qwen, Hermes...) the `<tool_call>{json}</tool_call>` convention of Qwen2.5 and Hermes; for Gemma models
   (a pretrained Gemma 3 has no template at all) Gemma's turns with the same tool-call blocks. Both carry
   `{% generation %}` markers, so the mask comes from the template itself.
No family fits: one TemplateError before any work. The template chosen is saved with every adapter (TRL writes
`chat_template.jinja`), and serving renders with it too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .masking import TemplateError, end_of_turn_ids

# An assistant turn's tool calls, after its text: one <tool_call> block each, arguments verbatim when already JSON text.
_CALLS = (
    "{%- for tc in (m.tool_calls or []) %}{%- set f = tc.function if tc.function is defined and tc.function else tc %}"
    "{%- set a = f.arguments if f.arguments is defined and f.arguments is not none else {} %}"
    "{%- if m.content or not loop.first %}{{- '\\n' }}{%- endif %}"
    "{{- '<tool_call>\\n{\"name\": \"' + f.name + '\", \"arguments\": ' }}"
    "{%- if a is string %}{{- a }}{%- else %}{{- a | tojson }}{%- endif %}{{- '}\\n</tool_call>' }}"
    "{%- endfor %}")

# Qwen2.5's own tool prompt and blocks (the convention ChatML models with tool training share), with generation markers.
CHATML_TOOLS = (
    "{%- if messages and messages[0].role == 'system' %}{%- set system = messages[0].content %}"
    "{%- set msgs = messages[1:] %}{%- else %}{%- set system = '' %}{%- set msgs = messages %}{%- endif %}"
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}{%- if system %}{{- system + '\\n\\n' }}{%- endif %}"
    "{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with "
    "function signatures within <tools></tools> XML tags:\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}"
    "{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}"
    "\\n</tool_call><|im_end|>\\n' }}"
    "{%- elif system %}{{- '<|im_start|>system\\n' + system + '<|im_end|>\\n' }}{%- endif %}"
    "{%- for m in msgs %}"
    "{%- if m.role == 'user' or m.role == 'system' %}{{- '<|im_start|>' + m.role + '\\n' + m.content + "
    "'<|im_end|>\\n' }}"
    "{%- elif m.role == 'assistant' %}{{- '<|im_start|>assistant\\n' }}{%- generation %}"
    "{%- if m.content %}{{- m.content }}{%- endif %}" + _CALLS + "{{- '<|im_end|>' }}{%- endgeneration %}{{- '\\n' }}"
    "{%- elif m.role == 'tool' %}"
    "{%- if loop.first or msgs[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + m.content + '\\n</tool_response>' }}"
    "{%- if loop.last or msgs[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")

# Gemma's turns (the system prompt opens the first user turn, as Gemma 3's own template does) with the same blocks.
GEMMA_TOOLS = (
    "{{- bos_token }}"
    "{%- if messages and messages[0].role == 'system' %}{%- set system = messages[0].content %}"
    "{%- set msgs = messages[1:] %}{%- else %}{%- set system = '' %}{%- set msgs = messages %}{%- endif %}"
    "{%- set preamble = namespace(text=system) %}"
    "{%- if tools %}{%- set preamble.text = (system + '\\n\\n' if system else '') + '# Tools\\n\\nYou may call one "
    "or more functions to assist with the user query. The function signatures, within <tools></tools> XML tags:"
    "\\n<tools>' %}{%- for tool in tools %}{%- set preamble.text = preamble.text + '\\n' + (tool | tojson) %}"
    "{%- endfor %}{%- set preamble.text = preamble.text + '\\n</tools>\\n\\nFor each function call, return a json "
    "object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\"name\": "
    "<function-name>, \"arguments\": <args-json-object>}\\n</tool_call>' %}{%- endif %}"
    "{%- if preamble.text and not msgs %}{{- '<start_of_turn>user\\n' + preamble.text + '<end_of_turn>\\n' }}"
    "{%- endif %}"
    "{%- for m in msgs %}"
    "{%- if m.role == 'user' or m.role == 'system' %}{{- '<start_of_turn>user\\n' }}"
    "{%- if loop.first and preamble.text %}{{- preamble.text + '\\n\\n' }}{%- endif %}"
    "{{- m.content + '<end_of_turn>\\n' }}"
    "{%- elif m.role == 'assistant' %}{{- '<start_of_turn>model\\n' }}{%- generation %}"
    "{%- if m.content %}{{- m.content }}{%- endif %}" + _CALLS + "{{- '<end_of_turn>' }}{%- endgeneration %}{{- '\\n' }}"
    "{%- elif m.role == 'tool' %}"
    "{%- if loop.first or msgs[loop.index0 - 1].role != 'tool' %}{{- '<start_of_turn>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + m.content + '\\n</tool_response>' }}"
    "{%- if loop.last or msgs[loop.index0 + 1].role != 'tool' %}{{- '<end_of_turn>\\n' }}{%- endif %}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}")

# family: (the token that opens a turn in its chat format, its tool-capable template, what it is called)
FAMILIES = {"chatml": ("<|im_start|>", CHATML_TOOLS, "ChatML with <tool_call> blocks (Qwen2.5/Hermes convention)"),
            "gemma": ("<start_of_turn>", GEMMA_TOOLS, "Gemma turns with <tool_call> blocks")}

PROBE_TOOL = "workbench_probe_read"
PROBE_PATH = "probe/dir/file_7f3a.py"
PROBE_DESCRIPTION = "Read one file of the repository (workbench probe)"
PROBE_TOOLS = [{"type": "function", "function": {
    "name": PROBE_TOOL, "description": PROBE_DESCRIPTION,
    "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "The file"}},
                   "required": ["path"]}}}]
PROBE_MESSAGES = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "Show me the file."},
    {"role": "assistant", "content": "I'll read it.", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": PROBE_TOOL, "arguments": json.dumps({"path": PROBE_PATH})}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": PROBE_TOOL, "content": "print('hello')"},
    {"role": "assistant", "content": "The file prints hello."},
]


@dataclass(frozen=True)
class Resolved:
    template: str
    source: str  # "own", "path", or a family name ("chatml", "gemma")
    note: str  # one line: which template, and why

    @property
    def replaced(self) -> bool:
        return self.source != "own"


def probe(tokenizer, template: str | None) -> str | None:
    """Why `template` cannot train tool calls on this tokenizer (None: it can): it must render the tool schema, and
    the probe call's name and arguments inside the assistant mask, with the end-of-turn token trained."""
    from .masking import tokenize

    if not template:
        return "it has no chat template"
    try:
        text = tokenizer.apply_chat_template(PROBE_MESSAGES, tools=PROBE_TOOLS, tokenize=False, chat_template=template)
        ids, mask = tokenize(tokenizer, PROBE_MESSAGES, PROBE_TOOLS, template)
    except TemplateError as e:
        return str(e)
    except Exception as e:  # jinja2's own errors: a template that cannot render tools or tool calls at all
        return f"it fails on tools or tool calls ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    if PROBE_DESCRIPTION not in text:
        return "it does not render the tool definitions"
    trained = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    if PROBE_TOOL not in text or PROBE_PATH not in text:
        return "it does not render an assistant's tool calls"
    if PROBE_TOOL not in trained or PROBE_PATH not in trained:
        return "it renders the tool call outside the assistant's trained tokens"
    if not any(m and i in end_of_turn_ids(tokenizer) for i, m in zip(ids, mask)):
        return "the assistant's end-of-turn token is not trained"
    return None


def family(tokenizer) -> str | None:
    """The chat format family whose turn token this tokenizer has (ChatML, Gemma), or None."""
    vocab = tokenizer.get_vocab()
    return next((name for name, (token, _, _) in FAMILIES.items() if token in vocab), None)


def resolve(tokenizer, chat_template_path: str | None = None, *, name: str = "the base") -> Resolved:
    """The template every stage renders `tokenizer`'s conversations with (see the module's docstring)."""
    if chat_template_path:
        path = Path(chat_template_path).expanduser()
        if not path.is_file():
            raise TemplateError(f"sft.chat_template_path {chat_template_path}: no such file (a .jinja chat template)")
        template = path.read_text(encoding="utf-8")
        why = probe(tokenizer, template)
        if why:
            raise TemplateError(f"sft.chat_template_path {chat_template_path} cannot train tool calls: {why}")
        return Resolved(template, "path", f"chat template: {path} (sft.chat_template_path)")
    own = tokenizer.chat_template
    own = own.get("default") if isinstance(own, dict) else own
    why = probe(tokenizer, own)
    if why is None:
        return Resolved(own, "own", f"chat template: {name}'s own (it renders tools and tool calls)")
    fam = family(tokenizer)
    if fam is None:
        raise TemplateError(
            f"{name}'s chat template cannot train tool calls ({why}), and no known tool format fits its tokenizer "
            f"(none of {', '.join(t for t, _, _ in FAMILIES.values())} in its vocabulary); set "
            f"sft.chat_template_path to a .jinja template that renders tools and tool calls")
    template = FAMILIES[fam][1]
    still = probe(tokenizer, template)
    if still:
        raise TemplateError(f"{name}'s chat template cannot train tool calls ({why}), and the {fam} tool format does "
                            f"not fit it either ({still}); set sft.chat_template_path to a .jinja template")
    return Resolved(template, fam, f"chat template: {name}'s own cannot train tool calls ({why}); using "
                                   f"{FAMILIES[fam][2]}, saved with every adapter and served the same")


def apply(tokenizer, chat_template_path: str | None = None, *, name: str = "the base", log=None) -> Resolved:
    """Resolve and set `tokenizer.chat_template`; `log` gets the one line when the base's own is replaced."""
    r = resolve(tokenizer, chat_template_path, name=name)
    tokenizer.chat_template = r.template
    if r.replaced and log is not None:
        log(r.note)
    return r
