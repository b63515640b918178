"""Tests for sample/tiny_model.py: tokenizer, chat template, tiny base model, corpus reader, CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import os
import re
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # a stray hub id must fail at once
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from sample import tiny_model as tm  # noqa: E402

SMALL = dict(hidden_size=64, vocab_size=512)
FILES = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "generation_config.json",
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file from the workspace",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run",
            "description": "Run a shell command",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        },
    },
]

LANGS = {
    "python": ("src/app.py", "def main():\n    return 42\n", "pytest -q"),
    "rust": ("src/main.rs", 'fn main() {\n    println!("hi");\n}\n', "cargo test"),
    "go": ("main.go", "package main\n\nfunc main() {}\n", "go test ./..."),
}


def make_conversation(i: int, lang: str) -> list[dict]:
    path, code, test_cmd = LANGS[lang]
    return [
        {"role": "system", "content": f"You are a {lang} coding agent."},
        {"role": "user", "content": f"Task {i}: fix the failing test in {path}."},
        {
            "role": "assistant",
            "content": f"Let me read {path} first.",
            "tool_calls": [
                {
                    "id": f"call_{i}_0",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": {"path": path, "limit": 100 + i}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": f"call_{i}_0", "content": code},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": f"call_{i}_1",
                    "type": "function",
                    "function": {"name": "run", "arguments": {"command": test_cmd}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": f"call_{i}_1", "content": f"ok: {i} passed"},
        {"role": "assistant", "content": f"All {lang} tests pass now."},
    ]


CONVERSATIONS = [make_conversation(i, lang) for i in range(12) for lang in LANGS]  # 36


def corpus() -> list[str]:
    texts = []
    for conv in CONVERSATIONS:
        for m in conv:
            if m.get("content"):
                texts.append(m["content"])
            for tc in m.get("tool_calls") or []:
                texts.append(json.dumps(tc["function"]["arguments"]))
    texts.append(json.dumps(TOOLS))
    return texts


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tm.build_tiny_base(tmp_path_factory.mktemp("tiny") / "base", corpus(), **SMALL)


@pytest.fixture(scope="module")
def tok(base):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(base)


def render(tok, messages, tools=None, **kw) -> str:
    return tok.apply_chat_template(messages, tools=tools, tokenize=False, **kw)


def mask_spans(tok, messages, tools=None) -> tuple[list[str], list[str], dict]:
    """Decoded runs of masked tokens and of unmasked tokens."""
    out = tok.apply_chat_template(messages, tools=tools, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    runs: dict[int, list[list[int]]] = {0: [], 1: []}
    prev = None
    for t, m in zip(ids, mask):
        if m != prev:
            runs[m].append([])
            prev = m
        runs[m][-1].append(t)
    dec = lambda r: tok.decode(r, skip_special_tokens=False)  # noqa: E731
    return [dec(r) for r in runs[1]], [dec(r) for r in runs[0]], out


# ---------------------------------------------------------------- files and reload


def test_files_written_and_reload(base, tok):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in FILES:
        assert (base / name).is_file(), name
    assert (base / "chat_template.jinja").read_text() == tm.CHAT_TEMPLATE
    assert not list(base.parent.glob(".base.*")), "temp/backup folders left behind"

    cfg = json.loads((base / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["tie_word_embeddings"] is True
    assert cfg["hidden_size"] == 64 and cfg["intermediate_size"] == 128 and cfg["num_hidden_layers"] == 2
    assert cfg["vocab_size"] == len(tok)
    gen = json.loads((base / "generation_config.json").read_text())
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert gen["eos_token_id"] == im_end == tok.eos_token_id == cfg["eos_token_id"]
    assert tok.bos_token == "<|endoftext|>" and tok.pad_token == "<|pad|>"
    assert cfg["bos_token_id"] == tok.bos_token_id and cfg["pad_token_id"] == tok.pad_token_id

    model = AutoModelForCausalLM.from_pretrained(base)
    ids = tok.apply_chat_template(CONVERSATIONS[0], tools=TOOLS, return_dict=False)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), len(tok))
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight

    # stack-notes pitfall: with a Llama config AutoTokenizer must not swap the pre-tokenizer
    auto = AutoTokenizer.from_pretrained(base)
    assert auto.apply_chat_template(CONVERSATIONS[0], tools=TOOLS, return_dict=False) == ids


def test_tokenizer_tokens(tok):
    specials = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]
    assert [tok.convert_tokens_to_ids(t) for t in specials] == [0, 1, 2, 3]
    added = {t.content: t for t in tok.added_tokens_decoder.values()}
    for t in specials:
        assert added[t].special
    for t in ["<tool_call>", "</tool_call>", "<think>", "</think>"]:
        assert not added[t].special, t
        assert len(tok.encode(t, add_special_tokens=False)) == 1
    text = 'ok<tool_call>{"name": "run", "arguments": {"command": "ls"}}</tool_call>'
    ids = tok.encode("<|im_start|>assistant\n<think>hm</think>\n" + text + "<|im_end|>", add_special_tokens=False)
    assert tok.decode(ids, skip_special_tokens=True) == "assistant\n<think>hm</think>\n" + text


# ---------------------------------------------------------------- chat template


def test_render_golden(tok):
    text = render(tok, CONVERSATIONS[0], TOOLS)
    tools_lines = "".join(json.dumps(t) + "\n" for t in TOOLS)
    assert text == (
        "<|im_start|>system\nYou are a python coding agent.\n\n# Tools\n" + tools_lines + "<|im_end|>\n"
        "<|im_start|>user\nTask 0: fix the failing test in src/app.py.<|im_end|>\n"
        "<|im_start|>assistant\nLet me read src/app.py first."
        '<tool_call>{"name": "read_file", "arguments": {"path": "src/app.py", "limit": 100}}</tool_call><|im_end|>\n'
        "<|im_start|>tool\ndef main():\n    return 42\n<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>{"name": "run", "arguments": {"command": "pytest -q"}}</tool_call>'
        "<|im_end|>\n"
        "<|im_start|>tool\nok: 0 passed<|im_end|>\n"
        "<|im_start|>assistant\nAll python tests pass now.<|im_end|>\n"
    )
    # one JSON line per tool under "# Tools"
    sys_turn = text.split("<|im_end|>")[0]
    assert sys_turn.split("# Tools\n")[1].splitlines() == [json.dumps(t) for t in TOOLS]


def test_assistant_mask_covers_exactly_assistant_outputs(tok):
    conv = CONVERSATIONS[4]
    masked, unmasked, out = mask_spans(tok, conv, TOOLS)
    assert masked == [
        'Let me read src/main.rs first.<tool_call>{"name": "read_file", "arguments": '
        '{"path": "src/main.rs", "limit": 101}}</tool_call><|im_end|>',
        '<tool_call>{"name": "run", "arguments": {"command": "cargo test"}}</tool_call><|im_end|>',
        "All rust tests pass now.<|im_end|>",
    ]
    rest = "".join(unmasked)
    for m in conv:
        if m["role"] in ("system", "user", "tool"):
            assert m["content"] in rest
            assert all(m["content"] not in s for s in masked)
    assert "read_file" in rest  # the tools schema is prompt, not output
    assert all(u.endswith("<|im_start|>assistant\n") for u in unmasked[:3])
    # the mask is a partition of the very tokens the template renders
    assert tok.decode(out["input_ids"], skip_special_tokens=False) == render(tok, conv, TOOLS)
    assert sum(out["assistant_masks"]) < len(out["input_ids"])


def test_reasoning_and_generation_prompt(tok):
    conv = [
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "reasoning_content": "Think first.", "content": "Because."},
        {"role": "user", "content": "And then?"},
    ]
    text = render(tok, conv, add_generation_prompt=True)
    assert text == (
        "<|im_start|>user\nWhy?<|im_end|>\n"
        "<|im_start|>assistant\n<think>Think first.</think>\nBecause.<|im_end|>\n"
        "<|im_start|>user\nAnd then?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert not render(tok, conv).endswith("<|im_start|>assistant\n")
    masked, _, _ = mask_spans(tok, conv)
    assert masked == ["<think>Think first.</think>\nBecause.<|im_end|>"]


def test_arguments_keep_order_types_and_strings(tok):
    args = {"zeta": 1, "alpha": "two words", "flag": True, "off": False, "n": None, "nested": {"b": [1, "x"], "a": 2.5}}
    nested = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]
    flat = [{"name": "f", "arguments": args}]
    as_string = [{"type": "function", "function": {"name": "f", "arguments": '{"zeta":1,  "alpha" : "s"}'}}]
    expected = (
        '<tool_call>{"name": "f", "arguments": {"zeta": 1, "alpha": "two words", "flag": true, "off": false, '
        '"n": null, "nested": {"b": [1, "x"], "a": 2.5}}}</tool_call>'
    )
    for calls in (nested, flat):
        text = render(tok, [{"role": "user", "content": "u"}, {"role": "assistant", "tool_calls": calls}])
        assert expected in text
    text = render(tok, [{"role": "user", "content": "u"}, {"role": "assistant", "tool_calls": as_string}])
    assert '<tool_call>{"name": "f", "arguments": {"zeta":1,  "alpha" : "s"}}</tool_call>' in text
    # unicode stays readable (transformers' tojson uses ensure_ascii=False)
    uni = [{"name": "f", "arguments": {"s": "héllo ✓"}}]
    assert '{"s": "héllo ✓"}' in render(tok, [{"role": "assistant", "tool_calls": uni}])


def test_template_tolerates_none_and_missing_keys(tok):
    from transformers.utils.chat_template_utils import render_jinja_template

    conv = [  # no system message; None values as Arrow fills them in
        {"role": "user", "content": "go", "tool_calls": None, "tool_call_id": None},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "type": "function", "function": {"name": "run", "arguments": None}}],
            "tool_call_id": None,
        },
        {"role": "tool", "content": "done", "tool_calls": None, "tool_call_id": "a"},
        {"role": "assistant", "content": "ok", "tool_calls": None, "tool_call_id": None},
        {"role": "tool", "content": {"exit": 0}},
        {"role": "user", "content": [{"type": "text", "text": "part one, "}, {"type": "text", "text": "two"}]},
    ]
    expected = (
        "<|im_start|>user\ngo<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>{"name": "run", "arguments": {}}</tool_call><|im_end|>\n'
        "<|im_start|>tool\ndone<|im_end|>\n"
        "<|im_start|>assistant\nok<|im_end|>\n"
        '<|im_start|>tool\n{"exit": 0}<|im_end|>\n'
        "<|im_start|>user\npart one, two<|im_end|>\n"
    )
    assert render(tok, conv) == expected  # apply_chat_template drops None-valued keys
    raw, _ = render_jinja_template([conv], chat_template=tm.CHAT_TEMPLATE)  # the template itself, None kept
    assert raw[0] == expected
    # an empty system message and no tools: no system turn at all
    assert render(tok, [{"role": "system", "content": None}, {"role": "user", "content": "x"}]).startswith(
        "<|im_start|>user\nx"
    )
    # tools with no system message
    assert render(tok, [{"role": "user", "content": "x"}], TOOLS[:1]) == (
        f"<|im_start|>system\n# Tools\n{json.dumps(TOOLS[0])}\n<|im_end|>\n<|im_start|>user\nx<|im_end|>\n"
    )


def test_trl_template_checks(tok):
    from trl.chat_template_utils import (
        has_generation_markers,
        is_chat_template_prefix_preserving,
        is_chat_template_stop_token_trained,
        supports_tool_calling,
    )

    assert has_generation_markers(tok.chat_template)
    assert is_chat_template_stop_token_trained(tok) is True
    assert supports_tool_calling(tok) is True
    assert is_chat_template_prefix_preserving(tok) is True


def test_tool_call_survives_decode(tok):
    ids = tok.apply_chat_template(CONVERSATIONS[1], tools=TOOLS, return_dict=False)
    text = tok.decode(ids, skip_special_tokens=True)
    assert "<|im_start|>" not in text and "<|im_end|>" not in text
    calls = re.findall(r"<tool_call>(.*?)</tool_call>", text, flags=re.S)
    assert [json.loads(c) for c in calls] == [
        {"name": "read_file", "arguments": {"path": "src/main.rs", "limit": 100}},
        {"name": "run", "arguments": {"command": "cargo test"}},
    ]


# ---------------------------------------------------------------- determinism and atomic writes


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_deterministic(tmp_path, base):
    a = tm.build_tiny_base(tmp_path / "a", corpus(), **SMALL)
    b = tm.build_tiny_base(tmp_path / "b", corpus(), **SMALL)
    c = tm.build_tiny_base(tmp_path / "c", corpus(), seed=1, **SMALL)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes() == (base / name).read_bytes(), name
    assert _digest(c / "model.safetensors") != _digest(a / "model.safetensors")
    assert _digest(c / "tokenizer.json") == _digest(a / "tokenizer.json")


def test_atomic_replace_keeps_old_on_failure(tmp_path, monkeypatch):
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "model"
    tm.build_tiny_base(out, corpus(), **SMALL)
    (out / "marker.txt").write_text("old")
    before = {p.name: _digest(p) for p in out.iterdir()}

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(PreTrainedTokenizerFast, "save_pretrained", boom)  # fails after the model is written
    with pytest.raises(RuntimeError, match="disk full"):
        tm.build_tiny_base(out, corpus(), seed=7, **SMALL)
    assert {p.name: _digest(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp folder left

    monkeypatch.undo()
    tm.build_tiny_base(out, corpus(), seed=7, **SMALL)  # a successful rebuild replaces the folder
    assert not (out / "marker.txt").exists()
    assert _digest(out / "model.safetensors") != before["model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no backup left


def test_failed_swap_restores_old(tmp_path, monkeypatch):
    out = tmp_path / "model"
    tm.build_tiny_base(out, corpus(), **SMALL)
    before = _digest(out / "model.safetensors")
    real_replace = os.replace

    def flaky_replace(src, dst):
        if ".tmp-" in str(src):
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(tm.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="rename failed"):
        tm.build_tiny_base(out, corpus(), seed=3, **SMALL)
    assert _digest(out / "model.safetensors") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# ---------------------------------------------------------------- corpus and CLI


def write_datasets(root: Path) -> None:
    from datasets import Dataset

    for k, lang in enumerate(LANGS):
        rows = [
            {"messages": conv, "tools": json.dumps(TOOLS), "session": f"s{i}"}
            for i, conv in enumerate(CONVERSATIONS)
            if conv[0]["content"].startswith(f"You are a {lang} ")
        ]
        ds = Dataset.from_list(rows, on_mixed_types="use_json")
        (root / lang / "data").mkdir(parents=True)
        ds.select(range(2, len(rows))).to_parquet(str(root / lang / "data" / "train-00000-of-00001.parquet"))
        ds.select(range(2)).to_parquet(str(root / lang / "data" / "test-00000-of-00001.parquet"))


def test_corpus_from_datasets(tmp_path):
    write_datasets(tmp_path / "data")
    texts = list(tm.corpus_from_datasets(tmp_path / "data"))
    assert texts == list(tm.corpus_from_datasets(tmp_path / "data"))  # stable order
    assert "You are a go coding agent." in texts and "You are a rust coding agent." in texts
    assert "Task 0: fix the failing test in src/app.py." in texts  # a test-split row
    assert LANGS["rust"][1] in texts
    assert json.dumps({"path": "src/main.rs", "limit": 101}) in texts  # arguments keep their key order
    assert json.dumps(TOOLS) in texts
    assert "" not in texts and all(isinstance(t, str) for t in texts)

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "empty"))):
        next(tm.corpus_from_datasets(tmp_path / "empty"))


def test_cli(tmp_path, capsys):
    write_datasets(tmp_path / "data")
    out = tmp_path / "base"
    argv = ["--data", str(tmp_path / "data"), "--out", str(out), "--hidden-size", "64", "--vocab-size", "512"]
    assert tm.main(argv + ["--layers", "1", "--seed", "2"]) == 0
    line = capsys.readouterr().out.strip()
    m = re.fullmatch(r"tiny base: (\d+) params, vocab (\d+) -> (.+)", line)
    assert m, line
    cfg = json.loads((out / "config.json").read_text())
    assert int(m[2]) == cfg["vocab_size"] and Path(m[3]) == out.resolve() and cfg["num_hidden_layers"] == 1
    # embeddings (tied) + 1 layer: 4*64*64 attention minus half of k/v (2 kv heads of 4), 3*64*128 MLP, 2 norms
    n_layer = 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64
    assert int(m[1]) == cfg["vocab_size"] * 64 + n_layer + 64

    with pytest.raises(SystemExit):
        tm.main(["--data", str(tmp_path / "nothing"), "--out", str(out)])
    assert str(tmp_path / "nothing") in capsys.readouterr().err


# --- pretraining on a store's sessions ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from sample.store import build_sample_store

    return build_sample_store(tmp_path_factory.mktemp("pretrain") / "opencode.db", seed=1, sessions_per_language=2)


def test_rendered_sessions_are_the_stores_windows_through_the_chat_template(small_store, base):
    texts = tm.rendered_sessions(small_store, base, window_tokens=4096)  # a 512-token vocabulary
    assert len(texts) >= 10  # 2 sessions of each of 5 languages, some over one window
    assert all(t.startswith("<|im_start|>system\n") and "# Tools\n" in t for t in texts)
    assert any("<tool_call>{\"name\": \"bash\"" in t for t in texts)
    assert any("cargo" in t for t in texts) and any("pytest" in t for t in texts)


def test_pretraining_trains_the_base_and_records_how(tmp_path, small_store):
    from safetensors.torch import load_file

    texts = list(tm.corpus_from_store(small_store))
    random = tm.build_tiny_base(tmp_path / "random", texts, **SMALL)
    trained = tm.build_tiny_base(tmp_path / "trained", texts, pretrain_store=small_store, pretrain_steps=4,
                                 pretrain_options={"max_length": 128, "batch_size": 2, "window_tokens": 4096}, **SMALL)
    assert not (random / tm.PRETRAINING_RECORD).exists()
    record = json.loads((trained / tm.PRETRAINING_RECORD).read_text())
    assert record["steps"] == 4 and record["tokens"] == 4 * 2 * 128
    assert record["store"] == str(small_store.resolve()) and record["last_loss"] < record["first_loss"]
    a, b = load_file(random / "model.safetensors"), load_file(trained / "model.safetensors")
    assert a.keys() == b.keys() and any(not (a[k] == b[k]).all() for k in a)
    assert (random / "tokenizer.json").read_bytes() == (trained / "tokenizer.json").read_bytes()


def test_failed_pretraining_leaves_the_previous_base(tmp_path, small_store, monkeypatch):
    texts = list(tm.corpus_from_store(small_store))
    out = tm.build_tiny_base(tmp_path / "base", texts, **SMALL)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tm, "pretrain", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        tm.build_tiny_base(out, texts, pretrain_store=small_store, pretrain_steps=2, seed=5,
                           pretrain_options={"window_tokens": 4096}, **SMALL)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]  # no temp folder left behind


def test_cli_pretrains_on_the_store_and_says_so(tmp_path, small_store, capsys):
    out = tmp_path / "base"
    argv = ["--store", str(small_store), "--out", str(out), "--hidden-size", "64", "--vocab-size", "512",
            "--pretrain-steps", "2", "--pretrain-length", "64", "--pretrain-window", "4096"]
    assert tm.main(argv) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"tiny base: \d+ params, vocab \d+, pretrained 2 steps on \d+ windows "
                        r"\(\d+ tokens, loss [\d.]+ -> [\d.]+, [\d.]+ s\) -> .+", line), line
    assert json.loads((out / tm.PRETRAINING_RECORD).read_text())["max_length"] == 64


def test_cli_pretraining_needs_a_store(tmp_path, capsys):
    write_datasets(tmp_path / "data")
    with pytest.raises(SystemExit):
        tm.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "base"), "--pretrain-steps", "5"])
    assert "--pretrain-steps needs --store" in capsys.readouterr().err


def test_cli_with_cache_builds_once_and_copies_the_same_base_after(tmp_path, small_store, capsys, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BASES", str(tmp_path / "bases"))
    argv = ["--hidden-size", "64", "--vocab-size", "512", "--pretrain-steps", "2", "--pretrain-length", "64",
            "--pretrain-window", "4096", "--cache"]
    other = tmp_path / "elsewhere" / "opencode.db"  # the same sessions at another path: the same key
    other.parent.mkdir()
    shutil.copy(small_store, other)
    assert tm.main(["--store", str(small_store), "--out", str(tmp_path / "a"), *argv]) == 0
    assert "pretrained 2 steps" in capsys.readouterr().out
    [cached] = (tmp_path / "bases" / "tiny").iterdir()

    def again(*args, **kwargs):
        raise RuntimeError("pretrained again")

    monkeypatch.setattr(tm, "pretrain", again)
    assert tm.main(["--store", str(other), "--out", str(tmp_path / "b"), *argv]) == 0
    assert f"the one built before with this store and these options (kept in {cached})" in capsys.readouterr().out
    files = lambda d: {p.name: p.read_bytes() for p in d.iterdir() if p.name != tm.PRETRAINING_RECORD}  # noqa: E731
    assert files(tmp_path / "a") == files(tmp_path / "b")
    record = json.loads((tmp_path / "b" / tm.PRETRAINING_RECORD).read_text())
    assert record["store"] == str(other.resolve()) and record["cached"] == str(cached)

    with pytest.raises(RuntimeError, match="pretrained again"):  # another option is another base
        tm.main(["--store", str(other), "--out", str(tmp_path / "c"), *argv, "--seed", "3"])
    assert not (tmp_path / "c").exists()
