"""Shared fixtures: an offline environment, a small sample store, a tiny base model and its datasets."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before any Hugging Face import: nothing may reach the Hub, and no cache is written outside a temp folder.
_HF_HOME = tempfile.mkdtemp(prefix="workbench-tests-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_DATASETS_CACHE"] = str(Path(_HF_HOME) / "datasets")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["WORKBENCH_EXTRACT_CACHE"] = str(Path(_HF_HOME) / "extract-cache")  # not the user's ~/.cache
os.environ["WORKBENCH_BASES"] = str(Path(_HF_HOME) / "bases")  # real bases converted once per test session
os.environ.pop("WORKBENCH_OVERLAY", None)
os.environ.pop("OPENCODE_DB", None)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """A sample opencode store: 4 sessions per language plus the edge-case sessions."""
    from sample.store import build_sample_store

    return build_sample_store(tmp_path_factory.mktemp("store") / "opencode.db", seed=0, sessions_per_language=4)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, sample_store) -> Path:
    """A tiny Llama base and tokenizer trained offline on the sample store (h64, 2 layers)."""
    from sample.tiny_model import build_tiny_base, corpus_from_store

    return build_tiny_base(tmp_path_factory.mktemp("base") / "base", list(corpus_from_store(sample_store)),
                           hidden_size=64, num_layers=2, vocab_size=1024, seed=0)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory, sample_store, tiny_base) -> dict:
    """Extracted datasets of the sample store under a temp workspace, and the overlay that points at them.

    Returns {"root", "overlay", "data", "base", "store"}; train/eval/export tests write under root. forge,
    oxidizer, serpent and swiftblade have both splits; prism has no test split (re-extracted with a 0 hold-out).
    """
    import yaml

    from core import config
    from extract.pipeline import Settings, run

    root = tmp_path_factory.mktemp("workspace")
    overlay = root / "overlay.yaml"
    cfg = config.read_overlay(REPO / "configs" / "demo.yaml")  # with the tiny.yaml it extends
    cfg["paths"] = {k: str(root / k) for k in ("data", "outputs", "reports", "exports")}
    cfg["extract"]["tokenizer"] = str(tiny_base)
    cfg["extract"]["test_fraction"] = 0.4
    cfg["model"]["model_name_or_path"] = str(tiny_base)
    cfg["sft"].update(max_steps=6, logging_steps=3, save_steps=3, max_length=1536)
    cfg["eval"]["min_sessions"] = 1  # verdicts on a 4-session sample: the verdict logic; the default 6 has its own tests
    overlay.write_text(yaml.safe_dump(cfg))
    specs = config.specialists(overlay=overlay)
    ex = config.load(overlay=overlay)["extract"]
    common = dict(db=sample_store, out=root / "data", tokenizer=str(tiny_base), window_tokens=1536,
                  tool_output_chars=ex["tool_output_chars"])
    run(Settings(specialists=specs, test_fraction=ex["test_fraction"], **common), progress=False)
    # prism re-extracted alone with nothing held out, as `--lang typescript extract.test_fraction=0` would: the
    # tests need one specialist without a test split, whatever the hash split gives.
    prism = [sp for sp in specs if sp.name == "prism"]
    run(Settings(specialists=prism, test_fraction=0.0, full_run=False, **common), progress=False)
    return {"root": root, "overlay": str(overlay), "data": root / "data", "base": tiny_base, "store": sample_store}
