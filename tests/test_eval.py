"""Evaluation: the held-out loss arithmetic, `python -m eval NAME` reports, and its errors.

The loss tests use the tiny base directly; the report tests train one serpent adapter (6 steps) under a private
outputs root and evaluate it, in-process.
"""
from __future__ import annotations

import io
import json
import math
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

NAME = "serpent"


# --- eval.loss: the arithmetic ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_model(tiny_base):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_base)).eval()


def _window(sid: str, ids: list[int], trained: list[bool]):
    labels = [i if t else -100 for i, t in zip(ids, trained)]
    return (sid, ids, labels, 0)


# Two windows of different lengths; the first has its first token trained (a shifted loss cannot score it).
WINDOWS = [
    _window("s1", [5, 17, 99, 3, 42, 7, 8, 300, 12], [True, False, False, True, True, False, True, True, False]),
    _window("s2", [9, 10, 11, 250, 13], [False, False, True, True, True]),
]


def _by_hand(model, ids: list[int], labels: list[int]) -> tuple[float, int]:
    """Summed next-token cross-entropy over trained positions, one window, no padding."""
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    nll, n = 0.0, 0
    for t in range(1, len(ids)):
        if labels[t] != -100:
            nll -= float(logp[t - 1, ids[t]])
            n += 1
    return nll, n


def test_window_losses_equal_a_hand_computed_cross_entropy(base_model):
    from eval.loss import window_losses

    got = window_losses(base_model, WINDOWS, batch_size=1)
    for w, (sid, ids, labels, _) in zip(got, WINDOWS):
        nll, n = _by_hand(base_model, ids, labels)
        assert w.session_id == sid
        assert w.tokens == n
        assert w.nll == pytest.approx(nll, abs=1e-5)
    assert [w.tokens for w in got] == [4, 3]  # s1's first token is trained but can never be a prediction target


def test_window_losses_batched_and_padded_equal_one_at_a_time(base_model):
    from eval.loss import window_losses

    windows = WINDOWS + [_window("s3", list(range(20, 50)), [i % 3 == 0 for i in range(30)])]
    one = window_losses(base_model, windows, batch_size=1, pad_id=1)
    batched = window_losses(base_model, windows, batch_size=8, pad_id=1)
    assert [w.session_id for w in batched] == ["s1", "s2", "s3"]  # input order, whatever the batching order
    for a, b in zip(one, batched):
        assert a.tokens == b.tokens
        assert a.nll == pytest.approx(b.nll, abs=1e-5)


def test_mean_loss_weights_windows_by_their_trained_tokens():
    from eval.loss import WindowLoss, mean_loss

    ws = [WindowLoss("a", nll=6.0, tokens=2, bytes=8), WindowLoss("b", nll=1.0, tokens=1, bytes=4)]
    assert mean_loss(ws) == pytest.approx(7.0 / 3)
    assert math.isnan(mean_loss([]))


def test_bits_per_byte_is_nats_over_ln2_over_bytes():
    from eval.loss import WindowLoss, bits_per_byte

    ws = [WindowLoss("a", nll=6.0, tokens=2, bytes=8), WindowLoss("b", nll=1.0, tokens=1, bytes=4)]
    assert bits_per_byte(ws) == pytest.approx(7.0 / math.log(2) / 12)


def test_encode_masks_everything_but_the_assistant_and_keeps_the_start(tiny_base):
    from eval.loss import encode
    from train.masking import tokenize
    from train.model import load_tokenizer

    tok = load_tokenizer({"model_name_or_path": str(tiny_base)})
    row = {"session_id": "s", "tools": None, "messages": [
        {"role": "system", "content": "You are serpent."}, {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "hi"}]}
    ids, mask = tokenize(tok, row["messages"], None)
    ((sid, e_ids, labels, nbytes),) = encode(tok, [row], None, None)
    assert e_ids == ids
    assert [x for x in labels if x != -100] == [i for i, m in zip(ids, mask) if m]
    assert nbytes == len("hi<|im_end|>".encode())
    ((_, cut_ids, cut_labels, _),) = encode(tok, [row], None, 5)
    assert cut_ids == ids[:5] and len(cut_labels) == 5


def _losses(values: dict[str, list[tuple[float, int]]]):
    from eval.loss import WindowLoss

    return [WindowLoss(sid, nll, n, 4 * n) for sid, ws in values.items() for nll, n in ws]


def test_bootstrap_intervals_contain_the_point_estimates():
    from eval.loss import bootstrap, mean_loss

    a = _losses({"s1": [(60, 10), (30, 5)], "s2": [(45, 10)], "s3": [(70, 10)], "s4": [(20, 5), (55, 10)]})
    b = _losses({"s1": [(40, 10), (25, 5)], "s2": [(41, 10)], "s3": [(50, 10)], "s4": [(18, 5), (40, 10)]})
    ci = bootstrap(a, b, samples=500, seed=0)
    assert ci["a"][0] <= mean_loss(a) <= ci["a"][1]
    assert ci["b"][0] <= mean_loss(b) <= ci["b"][1]
    assert ci["delta"][0] <= mean_loss(b) - mean_loss(a) <= ci["delta"][1]
    assert ci["delta"][1] < 0  # b is lower in every session


def test_bootstrap_is_deterministic_for_a_seed():
    from eval.loss import bootstrap

    a = _losses({"s1": [(60, 10)], "s2": [(45, 10)], "s3": [(70, 10)]})
    assert bootstrap(a, samples=200, seed=3) == bootstrap(a, samples=200, seed=3)


def test_bootstrap_resamples_sessions_not_windows():
    """One session's windows move together: with a single session the interval collapses to its loss."""
    from eval.loss import bootstrap, mean_loss

    a = _losses({"only": [(60, 10), (10, 10), (90, 10)]})
    ci = bootstrap(a, samples=200)
    assert ci["a"] == [round(mean_loss(a), 4)] * 2


# --- python -m eval NAME ----------------------------------------------------------------------------------------------

def _overlay(workspace, root: Path) -> str:
    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    root.mkdir(parents=True, exist_ok=True)
    (root / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    return str(root / "overlay.yaml")


def eval_main(argv, capsys=None) -> tuple[int, str, str]:
    from eval.__main__ import main

    rc = main(argv)
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return rc, out, err


@pytest.fixture(scope="module")
def evaluated(workspace, tmp_path_factory):
    """serpent trained 6 steps under a private root, then `python -m eval serpent`."""
    from train.__main__ import main as train_main

    root = tmp_path_factory.mktemp("eval")
    overlay = _overlay(workspace, root)
    with redirect_stdout(io.StringIO()):
        assert train_main([NAME, "--overlay", overlay]) == 0
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert eval_main([NAME, "--overlay", overlay])[0] == 0
    reports = root / "reports" / NAME
    return {"root": root, "overlay": overlay, "reports": reports, "stdout": buf.getvalue(),
            "report": json.loads((reports / "eval.json").read_text()),
            "training": json.loads((root / "outputs" / NAME / "training_summary.json").read_text())}


def test_eval_writes_eval_json_and_eval_md(evaluated):
    assert sorted(p.name for p in evaluated["reports"].iterdir()) == ["eval.json", "eval.md"]


def test_eval_report_scores_base_and_adapter_on_the_held_out_windows(evaluated, workspace):
    from extract.writer import load_specialist_dataset

    r = evaluated["report"]
    assert r["specialist"] == NAME and r["language"] == "python"
    assert r["base_model"] == str(workspace["base"])
    assert r["test_windows"] == len(load_specialist_dataset(workspace["data"] / NAME)["test"])
    assert r["trained_tokens"] > 0
    for side in ("base", "adapter"):
        assert r[side]["loss"] > 0
        assert r[side]["perplexity"] == pytest.approx(math.exp(r[side]["loss"]), rel=1e-3)
        assert r[side]["bits_per_byte"] > 0


def test_adapter_loss_is_below_base_after_training(evaluated):
    r = evaluated["report"]
    assert r["adapter"]["loss"] < r["base"]["loss"]


def test_eval_losses_equal_sfttrainers_eval_loss_before_and_after_training(evaluated):
    """Same windows, same mask as training: the report reproduces what the trainer measured on the test split."""
    r, t = evaluated["report"], evaluated["training"]
    assert r["base"]["loss"] == pytest.approx(t["eval_loss_before"], abs=2e-3)
    assert r["adapter"]["loss"] == pytest.approx(t["eval_loss_after"], abs=2e-3)


def test_eval_report_intervals_contain_the_losses(evaluated):
    r = evaluated["report"]
    for side in ("base", "adapter"):
        lo, hi = r[side]["loss_ci95"]
        assert lo <= r[side]["loss"] <= hi
    lo, hi = r["delta_loss_ci95"]
    assert lo <= r["adapter"]["loss"] - r["base"]["loss"] <= hi


def test_eval_report_records_provenance(evaluated):
    r = evaluated["report"]
    assert r["data_fingerprint"] == evaluated["training"]["data_fingerprint"]
    assert r["adapter_path"] == str(evaluated["root"] / "outputs" / NAME / "adapter")
    assert r["code_version"] and r["evaluated_at"]
    assert r["verdict"] in ("better than base (95% interval of the loss change below 0)", "worse than base",
                            "no clear difference from base")


def test_eval_md_shows_the_losses_and_the_verdict(evaluated):
    md = (evaluated["reports"] / "eval.md").read_text()
    r = evaluated["report"]
    assert md.startswith(f"# {NAME} (python): held-out evaluation")
    assert f"| assistant-token loss | {r['base']['loss']} " in md and f"| {r['adapter']['loss']} " in md
    assert r["verdict"] in md
    assert f"against the adapter at `{r['adapter_path']}`" in md


def test_eval_prints_one_line_per_specialist(evaluated):
    lines = evaluated["stdout"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"eval {NAME}: base loss ") and "eval.md" in lines[0]


def test_eval_batch_size_does_not_change_the_losses(evaluated):
    with redirect_stdout(io.StringIO()):
        assert eval_main([NAME, "--overlay", evaluated["overlay"], "batch_size=1"])[0] == 0
    again = json.loads((evaluated["reports"] / "eval.json").read_text())
    assert again["base"]["loss"] == pytest.approx(evaluated["report"]["base"]["loss"], abs=1e-4)
    assert again["adapter"]["loss"] == pytest.approx(evaluated["report"]["adapter"]["loss"], abs=1e-4)


def test_summary_lists_every_specialist_and_points_at_the_trained_adapter_before_export(evaluated, capsys):
    rc, out, err = eval_main(["--summary", "--overlay", evaluated["overlay"]], capsys)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[0] == "specialist" and set(lines[1].replace(" ", "")) == {"-"}
    rows = {l.split()[0]: l.split() for l in lines[2:]}
    assert sorted(rows) == ["forge", "oxidizer", "prism", "serpent", "swiftblade"]
    r = evaluated["report"]
    assert rows[NAME][2:5] == [f"{r['base']['loss']:.3f}", f"{r['adapter']['loss']:.3f}", r["adapter_path"]]
    assert rows["forge"][-2:] == ["not", "evaluated"]


def test_eval_all_finds_the_adapters_where_a_paths_override_says(evaluated, tmp_path, capsys):
    cfg = yaml.safe_load(Path(evaluated["overlay"]).read_text())
    cfg["paths"]["outputs"] = str(tmp_path / "nothing-here")
    cfg["paths"]["reports"] = str(tmp_path / "reports")
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    rc, out, err = eval_main(["--all", "--overlay", str(tmp_path / "overlay.yaml"),
                              f"paths.outputs={evaluated['root'] / 'outputs'}"], capsys)
    assert rc == 0, err
    assert out.startswith(f"eval {NAME}: base loss ")
    assert (tmp_path / "reports" / NAME / "eval.json").is_file()


# --- errors -----------------------------------------------------------------------------------------------------------

def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("eval: error: ")
    return lines[0]


@pytest.fixture
def private(evaluated, tmp_path):
    """A private root with a copy of the trained serpent adapter; returns (overlay, outputs root)."""
    overlay = yaml.safe_load(Path(evaluated["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        overlay["paths"][k] = str(tmp_path / k)
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    shutil.copytree(evaluated["root"] / "outputs" / NAME / "adapter", tmp_path / "outputs" / NAME / "adapter")
    return str(tmp_path / "overlay.yaml"), tmp_path / "outputs"


def test_eval_without_an_adapter_exits_2_telling_to_train(private, capsys):
    overlay, outputs = private
    shutil.rmtree(outputs / NAME)
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    assert "make train NAME=serpent" in _one_error_line(err)


def test_eval_all_without_any_adapter_exits_2(private, capsys):
    overlay, outputs = private
    shutil.rmtree(outputs / NAME)
    rc, out, err = eval_main(["--all", "--overlay", overlay], capsys)
    assert rc == 2
    _one_error_line(err)


def test_eval_without_a_test_split_exits_2(private, capsys):
    """prism has no held-out sessions in the workspace; give it an adapter so only the missing split is wrong."""
    overlay, outputs = private
    shutil.copytree(outputs / NAME / "adapter", outputs / "prism" / "adapter")
    rc, out, err = eval_main(["prism", "--overlay", overlay], capsys)
    assert rc == 2
    assert "test split" in _one_error_line(err)
    assert not (outputs.parent / "reports" / "prism").exists()


def test_eval_all_skips_a_specialist_without_a_test_split_and_evaluates_the_others(private, capsys):
    overlay, outputs = private
    shutil.copytree(outputs / NAME / "adapter", outputs / "prism" / "adapter")
    rc, out, err = eval_main(["--all", "--overlay", overlay], capsys)
    assert rc == 0, err
    assert "eval: skipped prism: the test split" in err
    assert out.startswith(f"eval {NAME}: base loss ")
    assert (outputs.parent / "reports" / NAME / "eval.json").is_file()
    assert not (outputs.parent / "reports" / "prism").exists()


def test_eval_of_an_adapter_trained_on_another_base_exits_2(private, capsys):
    overlay, outputs = private
    cfg_path = outputs / NAME / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = "/models/some-other-base"
    cfg_path.write_text(json.dumps(cfg))
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert "/models/some-other-base" in line and "retrain" in line


def test_eval_without_a_dataset_exits_2(private, capsys, tmp_path):
    overlay, outputs = private
    cfg = yaml.safe_load(Path(overlay).read_text())
    cfg["paths"]["data"] = str(tmp_path / "no-data")
    Path(overlay).write_text(yaml.safe_dump(cfg))
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    assert "make extract" in _one_error_line(err)


def test_eval_with_a_zero_row_test_file_exits_2(private, capsys, tmp_path, workspace):
    from extract.writer import load_specialist_dataset

    overlay, outputs = private
    data = tmp_path / "data" / NAME / "data"
    data.mkdir(parents=True)
    ds = load_specialist_dataset(workspace["data"] / NAME)
    ds["train"].to_parquet(str(data / "train-00000-of-00001.parquet"))
    ds["test"].select([]).to_parquet(str(data / "test-00000-of-00001.parquet"))
    cfg = yaml.safe_load(Path(overlay).read_text())
    cfg["paths"]["data"] = str(tmp_path / "data")
    Path(overlay).write_text(yaml.safe_dump(cfg))
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    assert str(data.parent) in _one_error_line(err)


def test_eval_of_an_unknown_specialist_exits_2(capsys):
    rc, out, err = eval_main(["cobra"], capsys)
    assert rc == 2
    assert "cobra" in _one_error_line(err)


def test_eval_with_an_unknown_override_exits_2(private, capsys):
    overlay, outputs = private
    rc, out, err = eval_main([NAME, "--overlay", overlay, "batch_sise=4"], capsys)
    assert rc == 2
    assert "batch_sise" in _one_error_line(err)
