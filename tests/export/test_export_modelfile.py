"""The Modelfile of an adapter trained with the workbench's tool format carries that format as Ollama's TEMPLATE."""
from __future__ import annotations

from pathlib import Path

from core.templates import CHATML_TOOLS, GEMMA_TOOLS
from export.bundle import modelfile, ollama_template


def test_the_chatml_tool_format_becomes_a_template_with_the_same_turns_and_blocks():
    go = ollama_template(CHATML_TOOLS)
    assert go.startswith("{{ $chatml := true }}") and go.endswith("<|im_start|>assistant\n")
    for piece in ("<tool_response>\n{{ $m.Content }}\n</tool_response><|im_end|>", "<tools>{{ range .Tools }}",
                  '<tool_call>\n{"name": "{{ $c.Function.Name }}", "arguments": {{ $c.Function.Arguments }}}'
                  "\n</tool_call>"):
        assert piece in go
    assert go.count("{{") == go.count("}}")


def test_the_gemma_tool_format_puts_system_and_tools_in_the_first_user_turn():
    go = ollama_template(GEMMA_TOOLS)
    assert "<start_of_turn>user\n{{ if eq $i 0 }}{{ if $.System }}{{ $.System }}\n\n{{ end }}{{ if $.Tools }}" in go
    assert go.endswith("<start_of_turn>model\n") and go.count("{{") == go.count("}}")


def test_a_bases_own_template_gets_no_template_line(tmp_path: Path):
    assert ollama_template("{{ messages }}") is None
    text = modelfile("serpent", str(tmp_path), tmp_path / "exports" / "serpent", "./adapter.gguf", "{{ messages }}")
    assert "TEMPLATE" not in text


def test_the_modelfile_of_a_tool_format_adapter_has_the_template(tmp_path: Path):
    text = modelfile("serpent", str(tmp_path), tmp_path / "exports" / "serpent", "./adapter.gguf", CHATML_TOOLS)
    assert f"\nFROM {tmp_path}\nADAPTER ./adapter.gguf\n" in text
    assert 'TEMPLATE """{{ $chatml := true }}' in text and text.endswith('<|im_start|>assistant\n"""\n')
