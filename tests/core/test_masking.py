"""Masking with a chat template that has no {% generation %} markers and that TRL cannot patch: the diff method.

The tiny base's template is ChatML with markers; `PLAIN_CHATML` is the same template with the markers taken out,
so the diff method must find exactly the spans the markers give. `HEADERS` is a different, marker-less layout.
"""
from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from train_support import CONVERSATION, EXPECTED_TRAINED, NAME, TOOLS, overlay_copy, runs, train_main

# The tiny base's template with its {% generation %} markers removed: TRL knows no patched copy of it.
HEADERS = (  # a marker-less layout of another kind: markdown-ish role headers, no tool definitions
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}{{- '### Assistant\\n' + (m.content or '') -}}"
    "{%- for tc in (m.tool_calls or []) -%}"
    "{{- '<tool_call>' + tc.function.name + ' ' + (tc.function.arguments | tojson) + '</tool_call>' -}}"
    "{%- endfor -%}{{- '<|im_end|>\\n\\n' -}}"
    "{%- else -%}{{- '### ' + (m.role | capitalize) + '\\n' + m.content + '\\n\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '### Assistant\\n' -}}{%- endif -%}"
)
REWRITES_EARLIER_TURNS = (  # earlier assistant turns are shortened: the render of a prefix is not a prefix
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' and not loop.last -%}{{- '<|im_start|>assistant\\n[earlier]<|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def plain_chatml() -> str:
    from sample.tiny_model import CHAT_TEMPLATE

    return CHAT_TEMPLATE.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")


def with_template(tok, template: str):
    import copy

    t = copy.deepcopy(tok)
    t.chat_template = template
    return t


@pytest.fixture(scope="module")
def tok(tiny_base):
    from core.models import load_tokenizer

    return load_tokenizer({"model_name_or_path": str(tiny_base)})


def base_with_template(tiny_base, root: Path, template: str) -> Path:
    """A copy of the tiny base whose tokenizer carries `template` (weights and vocabulary unchanged)."""
    base = root / "base"
    shutil.copytree(tiny_base, base)
    (base / "chat_template.jinja").write_text(template)
    return base


@pytest.fixture(scope="module")
def plain_base(tiny_base, tmp_path_factory) -> Path:
    return base_with_template(tiny_base, tmp_path_factory.mktemp("plain-base"), plain_chatml())


# --- which method --------------------------------------------------------------------------------------------------

def test_a_template_with_generation_markers_is_masked_by_its_markers(tok):
    from core.masking import method, training_template

    assert method(tok) == "markers" and training_template(tok) is None


def test_a_template_trl_cannot_patch_falls_back_to_the_diff_method(tok):
    from core.masking import method, training_template

    plain = with_template(tok, plain_chatml())
    assert method(plain) == "diff"
    assert training_template(plain) is None  # rendered with its own template; eval passes this on to tokenize


# --- exact trained spans --------------------------------------------------------------------------------------------

def test_diff_method_trains_exactly_the_assistant_outputs_with_their_end_of_turn_token(tok):
    from core.masking import tokenize

    ids, mask = tokenize(with_template(tok, plain_chatml()), CONVERSATION, TOOLS)
    assert [tok.decode(ids[a:b]) for a, b in runs(mask)] == EXPECTED_TRAINED


def test_diff_method_gives_the_same_ids_and_mask_as_the_generation_markers(tok):
    from core.masking import tokenize

    assert tokenize(with_template(tok, plain_chatml()), CONVERSATION, TOOLS) == tokenize(tok, CONVERSATION, TOOLS)


def test_diff_method_works_on_a_template_of_another_layout(tok):
    from core.masking import tokenize

    ids, mask = tokenize(with_template(tok, HEADERS), CONVERSATION, TOOLS)
    assert [tok.decode(ids[a:b]) for a, b in runs(mask)] == [
        'Let me read the file first.<tool_call>read_file {"path": "src/app.py", "limit": 200}</tool_call><|im_end|>',
        "The function returned 41; it now returns 42.<|im_end|>",
    ]
    assert "### Assistant\n" not in "".join(tok.decode(ids[a:b]) for a, b in runs(mask))


def test_diff_method_equals_the_generation_markers_on_every_extracted_window(tok, workspace):
    from core.data import load_specialist_dataset
    from core.masking import tokenize

    plain = with_template(tok, plain_chatml())
    rows = load_specialist_dataset(workspace["data"] / NAME)["train"]
    for row in rows:
        assert tokenize(plain, row["messages"], row["tools"]) == tokenize(tok, row["messages"], row["tools"])


def test_a_template_that_rewrites_earlier_turns_cannot_be_diffed(tok):
    from core.masking import TemplateError, tokenize

    with pytest.raises(TemplateError, match="not prefix-preserving"):
        tokenize(with_template(tok, REWRITES_EARLIER_TURNS), CONVERSATION, TOOLS)


# --- training and eval use the same mask ----------------------------------------------------------------------------

def test_sfttrainer_builds_its_labels_from_the_diff_mask(plain_base, workspace, tmp_path):
    from core.masking import tokenize
    from core.models import load_model, load_tokenizer
    from train.sft import load_specialist, load_splits, lora_config, training_args, training_rows
    from train.trainer import SpecialistTrainer

    sp = load_specialist(NAME, workspace["overlay"], [f"model.model_name_or_path={plain_base}"])
    tok = load_tokenizer(sp.config["model"])
    ds = load_splits(sp)
    args = training_args(sp, tmp_path / "ckpt", "diff")
    train_rows, test_rows, _ = training_rows(sp, tok, ds, "diff")
    trainer = SpecialistTrainer(model=load_model(sp.config["model"], for_training=True), args=args,
                                train_dataset=train_rows, eval_dataset=test_rows, processing_class=tok,
                                peft_config=lora_config(sp))
    for split, rows in ((trainer.train_dataset, ds["train"]), (trainer.eval_dataset, ds["test"])):
        assert len(split) == len(rows)
        for prepared, row in zip(split, rows):
            ids, mask = tokenize(tok, row["messages"], row["tools"])
            assert prepared["input_ids"] == ids[:args.max_length]
            assert prepared["labels"] == [i if m else -100 for i, m in zip(ids, mask)][:args.max_length]
            assert sum(mask) > 0


def test_eval_encodes_the_held_out_windows_with_the_diff_mask(plain_base, workspace):
    from core.loss import encode
    from core.data import load_specialist_dataset
    from core.masking import tokenize, training_template
    from core.models import load_tokenizer

    tok = load_tokenizer({"model_name_or_path": str(plain_base)})
    rows = load_specialist_dataset(workspace["data"] / NAME)["test"]
    for (_, ids, labels, _), row in zip(encode(tok, rows, training_template(tok), None), rows):
        want_ids, mask = tokenize(tok, row["messages"], row["tools"])
        assert ids == want_ids and labels == [i if m else -100 for i, m in zip(want_ids, mask)]


@pytest.fixture(scope="module")
def trained_plain(plain_base, workspace, tmp_path_factory):
    root = tmp_path_factory.mktemp("train-plain")
    overlay = overlay_copy(workspace, root, max_steps=6, save_steps=6)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        rc = train_main([NAME, "--overlay", overlay, f"model.model_name_or_path={plain_base}"])
    assert rc == 0
    out = root / "outputs" / NAME
    return {"out": out, "summary": json.loads((out / "training_summary.json").read_text())}


def test_training_with_a_template_without_markers_trains_and_lowers_the_held_out_loss(trained_plain):
    s = trained_plain["summary"]
    assert s["masking"] == "diff" and s["global_step"] == 6
    assert s["config"]["sft"]["assistant_only_loss"] is True
    assert s["held_out_loss_adapter"] < s["held_out_loss_base"]


def test_the_adapter_keeps_the_bases_own_template_without_markers(trained_plain):
    assert (trained_plain["out"] / "adapter" / "chat_template.jinja").read_text() == plain_chatml()


def test_a_template_that_cannot_be_masked_stops_training_with_one_line(tiny_base, workspace, tmp_path, capsys,
                                                                       monkeypatch):
    import core.models

    monkeypatch.setattr(core.models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    template = tmp_path / "rewrites.jinja"  # chosen by the user: a base's own would be replaced by its family's format
    template.write_text(REWRITES_EARLIER_TURNS)
    overlay = overlay_copy(workspace, tmp_path)
    rc = train_main([NAME, "--overlay", overlay, f"sft.chat_template_path={template}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith(f"train: error: serpent: sft.chat_template_path {template} cannot train tool calls")
    assert "not prefix-preserving" in err[0]
