"""The chat template every stage renders with: the base's own when it trains tool calls, else its family's format."""
from __future__ import annotations

import copy

import pytest

from core.masking import tokenize
from core.templates import (CHATML_TOOLS, GEMMA_TOOLS, PROBE_MESSAGES, PROBE_PATH, PROBE_TOOL, PROBE_TOOLS, apply,
                            probe, resolve)
from core.masking import TemplateError

# SmolLM2-135M-Instruct's own template (as its GGUF ships it): ChatML, no tools, no tool calls
SMOLLM2_OWN = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture(scope="module")
def tok(tiny_base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_base))


def with_template(tok, template):
    t = copy.deepcopy(tok)
    t.chat_template = template
    return t


def trained_text(tok, template) -> str:
    ids, mask = tokenize(tok, PROBE_MESSAGES, PROBE_TOOLS, template)
    return tok.decode([i for i, m in zip(ids, mask) if m])


def test_a_template_that_renders_no_tools_fails_the_probe(tok):
    assert probe(tok, SMOLLM2_OWN) == "it does not render the tool definitions"


def test_no_template_at_all_fails_the_probe(tok):
    assert probe(tok, None) == "it has no chat template"


def test_the_tiny_bases_own_template_passes_and_is_kept(tok):
    r = resolve(tok)
    assert r.source == "own" and not r.replaced and r.template == tok.chat_template


def test_a_chatml_base_without_tools_gets_the_chatml_tool_format_with_the_call_in_the_mask(tok):
    r = resolve(with_template(tok, SMOLLM2_OWN), name="gguf:smollm2")
    assert r.source == "chatml" and r.template == CHATML_TOOLS
    assert "gguf:smollm2's own cannot train tool calls (it does not render the tool definitions)" in r.note
    text = trained_text(tok, r.template)
    assert PROBE_TOOL in text and PROBE_PATH in text and text.endswith("<|im_end|>")
    assert "<tool_call>" in text


def test_the_fallback_renders_tool_results_outside_the_mask(tok):
    text = trained_text(tok, CHATML_TOOLS)
    assert "print('hello')" not in text
    rendered = tok.apply_chat_template(PROBE_MESSAGES, tools=PROBE_TOOLS, tokenize=False, chat_template=CHATML_TOOLS)
    assert "<tool_response>\nprint('hello')\n</tool_response>" in rendered


def test_the_fallback_renders_string_and_object_arguments_alike(tok):
    as_object = copy.deepcopy(PROBE_MESSAGES)
    as_object[2]["tool_calls"][0]["function"]["arguments"] = {"path": PROBE_PATH}
    render = lambda msgs: tok.apply_chat_template(msgs, tools=PROBE_TOOLS, tokenize=False, chat_template=CHATML_TOOLS)
    assert render(as_object) == render(PROBE_MESSAGES)


def test_a_base_of_no_known_family_is_one_error(tok, monkeypatch):
    import core.templates as templates

    monkeypatch.setattr(templates, "FAMILIES", {"other": ("<|no_such_token|>", CHATML_TOOLS, "other")})
    with pytest.raises(TemplateError, match="no known tool format fits its tokenizer.*sft.chat_template_path"):
        resolve(with_template(tok, SMOLLM2_OWN))


def test_chat_template_path_is_honoured(tok, tmp_path):
    path = tmp_path / "mine.jinja"
    path.write_text(CHATML_TOOLS)
    t = with_template(tok, SMOLLM2_OWN)
    r = apply(t, str(path))
    assert r.source == "path" and t.chat_template == CHATML_TOOLS


def test_a_chat_template_path_that_cannot_train_tool_calls_is_refused(tok, tmp_path):
    path = tmp_path / "plain.jinja"
    path.write_text(SMOLLM2_OWN)
    with pytest.raises(TemplateError, match="plain.jinja cannot train tool calls: it does not render the tool"):
        resolve(tok, str(path))


def test_a_missing_chat_template_path_is_refused(tok, tmp_path):
    with pytest.raises(TemplateError, match="no such file"):
        resolve(tok, str(tmp_path / "nope.jinja"))


def test_the_gemma_format_puts_the_system_prompt_and_tools_in_the_first_user_turn(tok):
    from core.templates import FAMILIES

    assert FAMILIES["gemma"][1] == GEMMA_TOOLS
    rendered = tok.apply_chat_template(PROBE_MESSAGES, tools=PROBE_TOOLS, tokenize=False, chat_template=GEMMA_TOOLS)
    first_user = rendered.split("<start_of_turn>user\n", 1)[1].split("<end_of_turn>", 1)[0]
    assert first_user.startswith("You are a coding agent.") and PROBE_TOOL in first_user
    assert first_user.endswith("Show me the file.")
    assert "<start_of_turn>model\nI'll read it.\n<tool_call>\n{\"name\": \"workbench_probe_read\"" in rendered


def test_load_tokenizer_applies_the_template_every_stage_uses(tiny_base, tmp_path, capsys):
    import shutil

    from core.models import load_tokenizer

    base = tmp_path / "base"
    shutil.copytree(tiny_base, base)
    (base / "chat_template.jinja").write_text(SMOLLM2_OWN)
    lines = []
    tok = load_tokenizer({"model_name_or_path": str(base)}, log=lines.append)
    assert tok.chat_template == CHATML_TOOLS
    assert len(lines) == 1 and "using ChatML with <tool_call> blocks" in lines[0]
