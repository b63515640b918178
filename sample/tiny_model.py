"""Build a tiny Llama-style base model (and its tokenizer) fully offline.

The Hugging Face Hub is unreachable here, so the demo and the tests train LoRA
specialists on a small randomly initialised model whose byte-level BPE tokenizer is
trained on the extracted datasets themselves.

Public API:

- ``CHAT_TEMPLATE``: a ChatML-like Jinja template that renders tools, tool calls,
  tool results and reasoning, with the whole assistant output (``<|im_end|>``
  included) inside ``{% generation %}`` so ``assistant_only_loss`` trains the stop token.
- ``train_tokenizer(texts, vocab_size=1024)``: a ``PreTrainedTokenizerFast``.
- ``build_tiny_base(out_dir, texts, ..., pretrain_store=None, pretrain_steps=0)``: writes model + tokenizer
  atomically; with ``pretrain_store``, the random model is first trained on its sessions (full parameters).
- ``pretrain(model, tok, texts, steps=...)``: that training, on rendered texts.
- ``rendered_sessions(db, tokenizer)``: an opencode store's build sessions, extracted into windows and rendered with
  the chat template: the pretraining corpus.
- ``corpus_from_datasets(data_dir)``, ``corpus_from_store(db)``: tokenizer texts.

Why pretrain: a random base knows nothing, so any adapter first learns the chat template, the tool-call format and
the words every session shares, and whichever adapter learns those fastest is best on every language's held-out
sessions. A real base already knows all that; its adapter's gain is the language. The demo's base is therefore trained
briefly on a second sample store (another seed: other sessions of the same kinds, all five languages, none of the
user's), and each specialist's adapter then has only its language left to learn.

CLI: ``python -m sample.tiny_model (--store DB | --data DIR) --out DIR [--hidden-size N] [--layers N]
[--vocab-size N] [--seed N] [--pretrain-steps N [--pretrain-length N] [--pretrain-window N]] [--cache]``.
With ``--cache`` (what ``make demo`` passes) a base built from a store is kept in the workbench's cache of bases
(``~/.cache/lora-workbench/bases/tiny/<key>``, ``WORKBENCH_BASES`` picks another folder) and the next build with the
same store, options, code and library versions copies it instead of pretraining again, as a real base is downloaded
once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay lazy so `import sample.tiny_model` is cheap
    from transformers import PreTrainedTokenizerFast

BOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
#: Special tokens (stripped by ``decode(skip_special_tokens=True)``); ids 0..3 in this order.
SPECIAL_TOKENS = [BOS_TOKEN, PAD_TOKEN, IM_START, IM_END]
#: Added tokens that are NOT special, so decoded text keeps them (tool calls are parsed from it).
TEXT_CONTROL_TOKENS = ["<tool_call>", "</tool_call>", "<think>", "</think>"]

# Every line is concatenated with no newline between them; whitespace is controlled
# explicitly with `{%-`/`-%}`.
_TEMPLATE_LINES = [
    # content may be a string, a list of {"type": "text", "text": ...} parts, a dict
    # (rendered as JSON) or a scalar; missing/None renders as nothing.
    "{%- macro render_content(c) -%}",
    "{%- if c is not defined or c is none -%}",
    "{%- elif c is string -%}{{- c -}}",
    "{%- elif c is mapping -%}{{- c | tojson -}}",
    "{%- elif c is iterable -%}{%- for p in c -%}"
    "{%- if p is string -%}{{- p -}}"
    "{%- elif p is mapping and p.text is defined and p.text is string -%}{{- p.text -}}{%- endif -%}"
    "{%- endfor -%}",
    "{%- else -%}{{- c | string -}}",
    "{%- endif -%}",
    "{%- endmacro -%}",
    # system turn: the first system message (if any) plus the tools, one JSON line each
    "{%- if messages and messages[0].role == 'system' -%}"
    "{%- set sys = render_content(messages[0].content) -%}{%- set msgs = messages[1:] -%}"
    "{%- else -%}{%- set sys = '' -%}{%- set msgs = messages -%}{%- endif -%}",
    "{%- if sys or tools -%}",
    "{{- '<|im_start|>system\\n' + sys -}}",
    "{%- if tools -%}",
    "{%- if sys -%}{{- '\\n\\n' -}}{%- endif -%}",
    "{{- '# Tools\\n' -}}",
    "{%- for t in tools -%}{%- if t is string -%}{{- t -}}{%- else -%}{{- t | tojson -}}{%- endif -%}"
    "{{- '\\n' -}}{%- endfor -%}",
    "{%- endif -%}",
    "{{- '<|im_end|>\\n' -}}",
    "{%- endif -%}",
    "{%- for m in msgs -%}",
    "{%- if m.role == 'assistant' -%}",
    "{{- '<|im_start|>assistant\\n' -}}",
    # everything the assistant produces, <|im_end|> included, is trained on
    "{%- generation -%}",
    "{%- if m.reasoning_content is defined and m.reasoning_content -%}"
    "{{- '<think>' + m.reasoning_content + '</think>\\n' -}}{%- endif -%}",
    "{{- render_content(m.content) -}}",
    "{%- for tc in (m.tool_calls or []) -%}",
    "{%- set f = tc.function if (tc.function is defined and tc.function) else tc -%}",
    "{%- set a = f.arguments if (f.arguments is defined and f.arguments is not none) else {} -%}",
    "{{- '<tool_call>{\"name\": \"' + (f.name or '') + '\", \"arguments\": ' -}}",
    # a string is emitted verbatim (already JSON); a dict keeps its key order (transformers' tojson)
    "{%- if a is string -%}{{- a -}}{%- else -%}{{- a | tojson -}}{%- endif -%}",
    "{{- '}</tool_call>' -}}",
    "{%- endfor -%}",
    "{{- '<|im_end|>' -}}",
    "{%- endgeneration -%}",
    "{{- '\\n' -}}",
    "{%- else -%}",
    # user, tool, a later system message, or any other role
    "{{- '<|im_start|>' + m.role + '\\n' + render_content(m.content) + '<|im_end|>\\n' -}}",
    "{%- endif -%}",
    "{%- endfor -%}",
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
]
CHAT_TEMPLATE: str = "".join(_TEMPLATE_LINES)

# Added to every tokenizer corpus so the template's scaffolding always gets merges,
# even when the datasets hold only raw contents.
_SCAFFOLD = (
    "<|im_start|>system\nYou are a coding agent.\n\n# Tools\n"
    '{"type": "function", "function": {"name": "read_file", "description": "Read a file", '
    '"parameters": {"type": "object", "properties": {"path": {"type": "string", '
    '"description": "The path"}}, "required": ["path"]}}}\n<|im_end|>\n'
    "<|im_start|>user\nFix the bug.<|im_end|>\n"
    "<|im_start|>assistant\n<think>Let me look.</think>\nI will read the file."
    '<tool_call>{"name": "read_file", "arguments": {"path": "src/main.py"}}</tool_call>'
    '<tool_call>{"name": "run", "arguments": {"command": "ls -la", "timeout": 60}}</tool_call><|im_end|>\n'
    "<|im_start|>tool\nok\n<|im_end|>\n"
    "<|im_start|>assistant\nDone.<|im_end|>\n"
)
_SCAFFOLD_REPEAT = 16


def _scaffolded(texts: Iterable[str]) -> Iterator[str]:
    for _ in range(_SCAFFOLD_REPEAT):
        yield _SCAFFOLD
    for text in texts:
        if text:
            yield text


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` (plus the template scaffolding).

    Special tokens (ids 0-3): ``<|endoftext|>`` (bos), ``<|pad|>`` (pad),
    ``<|im_start|>``, ``<|im_end|>`` (eos). ``<tool_call>``, ``</tool_call>``, ``<think>``
    and ``</think>`` are added tokens that are not special, so they survive
    ``decode(skip_special_tokens=True)``. The BPE vocabulary may come out smaller than
    ``vocab_size`` on a small corpus (it saturates). The chat template is attached.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_scaffolded(texts), trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TEXT_CONTROL_TOKENS])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[IM_START],
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished folder ``src`` to ``dst``, replacing any previous ``dst``."""
    if not dst.exists():
        os.replace(src, dst)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
    backup.rmdir()
    os.replace(dst, backup)
    try:
        os.replace(src, dst)
    except BaseException:
        os.replace(backup, dst)  # put the previous model back
        raise
    shutil.rmtree(backup, ignore_errors=True)


def build_tiny_base(
    out_dir: str | os.PathLike,
    texts: Iterable[str],
    *,
    hidden_size: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int | None = None,
    vocab_size: int = 1024,
    max_position_embeddings: int = 4096,
    seed: int = 0,
    pretrain_store: str | os.PathLike | None = None,
    pretrain_steps: int = 0,
    pretrain_options: dict[str, Any] | None = None,
) -> Path:
    """Train a tokenizer on ``texts`` and save a tiny Llama model with it into ``out_dir``.

    The model is random, or, with ``pretrain_store`` and ``pretrain_steps``, trained that many steps on the
    store's sessions (``rendered_sessions`` then ``pretrain``; ``pretrain_options``: ``window_tokens`` for the
    first, the rest for the second).
    Written atomically: built in a temp folder beside ``out_dir`` and then swapped in,
    so a failure leaves any previous ``out_dir`` untouched. Deterministic: the same
    texts, sizes and seed give byte-identical ``model.safetensors`` and ``tokenizer.json``.
    Returns the resolved ``out_dir``.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig
    from transformers.utils import logging as hf_logging

    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(texts, vocab_size=vocab_size)
    tok.model_max_length = max_position_embeddings

    # LlamaConfig, not Qwen2Config: with qwen2, AutoTokenizer swaps in Qwen2Tokenizer
    # whose pre-tokenizer changes the ids (stack-notes section 2).
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; give the model folder normal permissions
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar for a one-shard model
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if not (tmp / "chat_template.jinja").is_file():  # the template must travel with the model
            raise RuntimeError(f"tokenizer.save_pretrained did not write chat_template.jinja in {tmp}")
        if pretrain_store is not None and pretrain_steps > 0:
            options = dict(pretrain_options or {})
            corpus = rendered_sessions(pretrain_store, tmp,  # windows measured with the tokenizer just saved
                                       window_tokens=options.pop("window_tokens", 1536))
            record = pretrain(model, tok, corpus, steps=pretrain_steps, seed=seed, **options)
            record["store"] = str(Path(pretrain_store).resolve())
            model.save_pretrained(tmp)
            (tmp / PRETRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        for f in tmp.iterdir():  # safetensors writes model.safetensors as 0600
            f.chmod(0o666 & ~_umask())
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    return out


PRETRAINING_RECORD = "pretraining.json"  # in the model folder: what the base was trained on, and how far


def rendered_sessions(db: str | os.PathLike, tokenizer: str | os.PathLike, *, window_tokens: int = 1536,
                      tool_output_chars: int = 1500) -> list[str]:
    """The build sessions of an opencode store as the workbench trains on them, rendered to text: a pretraining corpus.

    The store is extracted like `make extract` (every language, nothing held out, windows of ``window_tokens``
    measured with ``tokenizer``, the configs' system prompts and never the user's agent files) into a temp folder,
    and every window is rendered with the tokenizer's chat template, tools included.
    """
    from core import config
    from extract.pipeline import Settings, run
    from core.data import load_specialist_dataset
    from core.models import load_tokenizer

    tok = load_tokenizer({"model_name_or_path": str(tokenizer)})
    specs = config.specialists(overrides=["extract.agent_files=false"])
    texts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tiny-base-corpus-") as tmp:
        run(Settings(db=Path(db), out=Path(tmp), specialists=specs, tokenizer=str(tokenizer),
                     window_tokens=window_tokens, tool_output_chars=tool_output_chars, test_fraction=0.0),
            progress=False)
        for folder in sorted(p for p in Path(tmp).iterdir() if (p / "data").is_dir()):
            for split in load_specialist_dataset(folder).values():
                for row in split:
                    texts.append(tok.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False))
    if not texts:
        raise ValueError(f"{db}: no build session to pretrain on")
    return texts


def pretrain(model, tok, texts: list[str], *, steps: int, max_length: int = 512, batch_size: int = 8,
             learning_rate: float = 5e-3, seed: int = 0) -> dict[str, Any]:
    """Train every parameter of ``model`` (in place) on ``texts`` as plain language modelling, ``steps`` steps.

    TRL's SFTTrainer on a ``text`` dataset, packed into rows of ``max_length`` tokens (the ``wrapped`` strategy:
    no padding, any attention), cosine schedule, through the workbench's trainer (its CPU loss path).
    Returns what happened: steps, tokens, the first and last logged losses and the seconds taken.
    """
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig

    from train.trainer import SpecialistTrainer

    with tempfile.TemporaryDirectory(prefix="tiny-base-pretrain-") as out:
        args = SFTConfig(output_dir=out, max_steps=steps, learning_rate=learning_rate, lr_scheduler_type="cosine",
                         warmup_steps=0.1, per_device_train_batch_size=batch_size, gradient_accumulation_steps=1,
                         packing=True, packing_strategy="wrapped", max_length=max_length, save_strategy="no",
                         report_to="none", logging_steps=max(1, steps // 10), seed=seed, data_seed=seed,
                         dataloader_pin_memory=False, disable_tqdm=True, bf16=False, fp16=False,
                         include_num_input_tokens_seen="non_padding", activation_checkpointing=False)
        trainer = SpecialistTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": texts}),
                                    processing_class=tok)
        trainer.remove_callback(PrinterCallback)  # no log dicts on stdout: the CLI prints one line
        result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model.eval()
    return {"steps": trainer.state.global_step, "tokens": int(trainer.state.num_input_tokens_seen),
            "windows": len(texts), "max_length": max_length, "batch_size": batch_size,
            "learning_rate": learning_rate, "first_loss": round(losses[0], 4) if losses else None,
            "last_loss": round(losses[-1], 4) if losses else None, "seconds": round(result.metrics["train_runtime"], 1)}


def _texts_from_message(message: Any) -> Iterator[str]:
    if isinstance(message, str):  # a Json-feature value still in its encoded form
        message = json.loads(message)
    if not isinstance(message, dict):
        return
    yield from _texts_from_content(message.get("content"))
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        yield reasoning
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        if fn.get("name"):
            yield str(fn["name"])
        args = fn.get("arguments")
        if isinstance(args, str):
            yield args
        elif args is not None:
            yield json.dumps(args, ensure_ascii=False)


def _texts_from_content(content: Any) -> Iterator[str]:
    if content is None:
        return
    if isinstance(content, str):
        if content:
            yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]
    else:
        yield json.dumps(content, ensure_ascii=False)


def corpus_from_datasets(data_dir: str | os.PathLike) -> Iterator[str]:
    """Yield texts from every split of every specialist under ``data_dir``.

    Reads ``DIR/<specialist>/data/*.parquet`` (train and test alike: the tokenizer is a
    vocabulary, not training) in sorted order: message contents, reasoning, tool-call
    names and arguments (JSON), and the ``tools`` JSON strings.
    Raises ``FileNotFoundError`` naming ``data_dir`` if there is no parquet file.
    """
    import pyarrow.parquet as pq

    root = Path(data_dir)
    files = sorted(root.glob("*/data/*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no dataset parquet files under {root} (expected {root}/<specialist>/data/train-*.parquet)"
        )
    for path in files:
        pf = pq.ParquetFile(path)
        columns = [c for c in ("messages", "tools") if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(columns=columns, batch_size=256):
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                for message in data.get("messages", [None] * batch.num_rows)[i] or []:
                    yield from _texts_from_message(message)
                tools = data.get("tools", [None] * batch.num_rows)[i]
                if isinstance(tools, str) and tools:
                    yield tools
                elif tools:
                    yield json.dumps(tools, ensure_ascii=False)


def corpus_from_store(db: str | os.PathLike) -> Iterator[str]:
    """Yield texts from an opencode store as extraction renders them (so the tokenizer exists before extraction).

    Prompts, assistant text, tool-call arguments (JSON) and outputs of the build sessions, the tool
    definitions each session would carry, and the specialists' system prompts.
    """
    from collections import defaultdict

    from core import config
    from extract import opencode
    from extract.tools import toolset_for

    for sp in config.specialists(overrides=["extract.agent_files=false"]):  # never the user's own files
        yield sp.system_prompt
    stats = opencode.ReadStats()
    with opencode.open_store(db) as conn:
        for session in opencode.read_sessions(conn, opencode.ReadOptions(), stats):
            used: dict[str, list] = defaultdict(list)
            for turn in session.turns:
                yield turn.prompt
                for step in turn.steps:
                    yield step.text
                    for call in step.tool_calls:
                        used[call.name].append(call.arguments)
                        yield call.name
                        yield json.dumps(call.arguments, ensure_ascii=False)
                        yield call.output
            yield json.dumps(toolset_for(used), ensure_ascii=False)


def cache_key(store: Path, options: dict[str, Any]) -> str:
    """What a built base depends on: the store's bytes, the build options, the code that renders and trains (sample/,
    extract/, core/) and the versions of the libraries that train it. Equal keys give byte-identical bases."""
    import hashlib
    from importlib import metadata

    from core.bases import sha256_file

    h = hashlib.sha256()
    h.update(json.dumps(options, sort_keys=True).encode())
    h.update(sha256_file(store).encode())
    repo = Path(__file__).resolve().parents[1]
    for folder in ("sample", "extract", "core"):
        for src in sorted((repo / folder).rglob("*.py")):
            h.update(str(src.relative_to(repo)).encode())
            h.update(src.read_bytes())
    for lib in ("torch", "transformers", "tokenizers", "trl", "accelerate"):
        try:
            h.update(f"{lib}={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            pass
    return h.hexdigest()[:16]


def _from_cache(cached: Path, out: Path, store: Path) -> None:
    """Copy a cached base to ``out`` (swapped in whole), its pretraining record naming this store."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        shutil.copytree(cached, tmp, dirs_exist_ok=True)
        tmp.chmod(0o777 & ~_umask())
        record = tmp / PRETRAINING_RECORD
        if record.is_file():
            r = json.loads(record.read_text())
            r.update(store=str(store.resolve()), cached=str(cached))
            record.write_text(json.dumps(r, indent=2) + "\n")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _to_cache(out: Path, cached: Path) -> None:
    """Keep a copy of the base just built (swapped in whole; a cache that cannot be written is only skipped)."""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cached.name}.tmp-", dir=cached.parent))
        shutil.copytree(out, tmp, dirs_exist_ok=True)
        try:
            os.replace(tmp, cached)
        except OSError:  # another build kept the same key first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def _count_params(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(model_dir / "model.safetensors", framework="pt") as f:
        for name in f.keys():
            n = 1
            for d in f.get_slice(name).get_shape():
                n *= d
            total += n
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sample.tiny_model",
        description="Build a tiny Llama base model + BPE tokenizer offline: random, or briefly pretrained on a store's sessions.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="datasets folder: DIR/<specialist>/data/*.parquet")
    src.add_argument("--store", type=Path, help="an opencode database (the tokenizer can then measure extraction)")
    p.add_argument("--out", required=True, type=Path, help="output model folder (replaced atomically)")
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-steps", type=int, default=0,
                   help="train the model this many steps on the --store's sessions (default 0: random weights)")
    p.add_argument("--pretrain-length", type=int, default=512, help="tokens per pretraining row (default 512)")
    p.add_argument("--pretrain-window", type=int, default=1536,
                   help="the store's sessions are cut into windows of this many tokens, as extraction cuts them "
                        "(default 1536, the demo's sft.max_length)")
    p.add_argument("--cache", action="store_true",
                   help="keep the base built from --store in the workbench's cache of bases and reuse it when the "
                        "store, options, code and library versions are the same (make demo passes it)")
    args = p.parse_args(argv)
    from core.config import ConfigError
    from extract.opencode import StoreError

    if args.pretrain_steps < 0:
        p.error("--pretrain-steps must be 0 or more")
    if args.pretrain_steps and not args.store:
        p.error("--pretrain-steps needs --store: the base pretrains on that store's sessions")
    cached = None
    if args.cache and args.store:
        from core.bases import cache_root

        if not args.store.is_file():
            p.error(f"no opencode store at {args.store}")
        options = {k: v for k, v in vars(args).items() if k not in ("out", "store", "data", "cache")}
        cached = cache_root() / "tiny" / cache_key(args.store, options)
        if (cached / "model.safetensors").is_file():
            _from_cache(cached, args.out, args.store)
            print(f"tiny base: {_count_params(args.out)} params, the one built before with this store and these "
                  f"options (kept in {cached}) -> {args.out.resolve()}")
            return 0
    try:
        texts = list(corpus_from_datasets(args.data) if args.data else corpus_from_store(args.store))
        out = build_tiny_base(
            args.out,
            texts,
            hidden_size=args.hidden_size,
            num_layers=args.layers,
            vocab_size=args.vocab_size,
            seed=args.seed,
            pretrain_store=args.store if args.pretrain_steps else None,
            pretrain_steps=args.pretrain_steps,
            pretrain_options={"max_length": args.pretrain_length, "window_tokens": args.pretrain_window},
        )
    except (FileNotFoundError, StoreError, ConfigError, ValueError) as e:
        p.error(str(e))
    vocab = json.loads((out / "config.json").read_text())["vocab_size"]
    trained = ""
    if (out / PRETRAINING_RECORD).is_file():
        r = json.loads((out / PRETRAINING_RECORD).read_text())
        trained = (f", pretrained {r['steps']} steps on {r['windows']} windows ({r['tokens']} tokens, loss "
                   f"{r['first_loss']} -> {r['last_loss']}, {r['seconds']} s)")
    if cached is not None:
        _to_cache(out, cached)
    print(f"tiny base: {_count_params(out)} params, vocab {vocab}{trained} -> {out}")
    return 0


if __name__ == "__main__":
    from core import entry

    raise SystemExit(entry.run("sample.tiny_model", main))
