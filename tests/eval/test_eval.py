"""Evaluation: the held-out loss arithmetic, `python -m eval NAME` reports, the cross-specialist matrix, and errors.

The loss tests use the tiny base directly; the report tests train one serpent adapter (6 steps) under a private
outputs root and evaluate it, in-process (next action on a few turns with a few new tokens); the matrix tests reuse
that adapter.
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


# --- core.loss: the arithmetic ----------------------------------------------------------------------------------------

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
    from core.loss import window_losses

    got = window_losses(base_model, WINDOWS, batch_size=1)
    for w, (sid, ids, labels, _) in zip(got, WINDOWS):
        nll, n = _by_hand(base_model, ids, labels)
        assert w.session_id == sid
        assert w.tokens == n
        assert w.nll == pytest.approx(nll, abs=1e-5)
    assert [w.tokens for w in got] == [4, 3]  # s1's first token is trained but can never be a prediction target


def test_window_losses_batched_and_padded_equal_one_at_a_time(base_model):
    from core.loss import window_losses

    windows = WINDOWS + [_window("s3", list(range(20, 50)), [i % 3 == 0 for i in range(30)])]
    one = window_losses(base_model, windows, batch_size=1, pad_id=1)
    batched = window_losses(base_model, windows, batch_size=8, pad_id=1)
    assert [w.session_id for w in batched] == ["s1", "s2", "s3"]  # input order, whatever the batching order
    for a, b in zip(one, batched):
        assert a.tokens == b.tokens
        assert a.nll == pytest.approx(b.nll, abs=1e-5)


@pytest.mark.parametrize("batch_size", [8, 2])
def test_window_losses_with_a_shared_prefix_equal_a_hand_computation(base_model, batch_size):
    """Windows opening with the same 40 tokens (as the system prompt and tools do): the prefix runs once, and its
    cache serves every batch of the group (three batches of 2, or one of 8); the numbers are those of each window
    alone."""
    from collections import Counter

    from core.loss import MIN_SHARED_PREFIX, window_losses

    prefix = [(7 * i) % 500 + 4 for i in range(40)]
    assert len(prefix) >= MIN_SHARED_PREFIX
    windows = [_window(f"s{k}", prefix + [(k * 31 + 3 * i) % 500 + 4 for i in range(n)],
                       [False] * 40 + [(i + k) % 2 == 0 for i in range(n)]) for k, n in enumerate([5, 17, 9, 30])]
    windows.append(_window("tail", prefix + [9, 9, 9], [False] * 41 + [True, False]))  # a trained token, then not
    work = Counter()
    got = window_losses(base_model, windows, batch_size=batch_size, pad_id=1, work=work)
    for w, (sid, ids, labels, _) in zip(got, windows):
        nll, n = _by_hand(base_model, ids, labels)
        assert (w.session_id, w.tokens) == (sid, n)
        assert w.nll == pytest.approx(nll, abs=1e-4)
    # 39 shared tokens once (s0's token 40 is trained: the logit at 39 predicts it, so the prefix stops before), then
    # each window from there to its last trained token, padded per batch
    rests = sorted(max(i for i, label in enumerate(labels) if label != -100) + 1 - 39 for _, _, labels, _ in windows)
    batches = [rests[b:b + batch_size] for b in range(0, len(rests), batch_size)]
    assert work["positions"] == 39 + sum(len(b) * max(b) for b in batches)
    assert work["padding"] == sum(len(b) * max(b) - sum(b) for b in batches)
    assert work["logits"] == 1 + sum(w.tokens for w in got)


def test_mean_loss_weights_windows_by_their_trained_tokens():
    from core.loss import WindowLoss, mean_loss

    ws = [WindowLoss("a", nll=6.0, tokens=2, bytes=8), WindowLoss("b", nll=1.0, tokens=1, bytes=4)]
    assert mean_loss(ws) == pytest.approx(7.0 / 3)
    assert math.isnan(mean_loss([]))


def test_bits_per_byte_is_nats_over_ln2_over_bytes():
    from core.loss import WindowLoss, bits_per_byte

    ws = [WindowLoss("a", nll=6.0, tokens=2, bytes=8), WindowLoss("b", nll=1.0, tokens=1, bytes=4)]
    assert bits_per_byte(ws) == pytest.approx(7.0 / math.log(2) / 12)


def test_encode_masks_everything_but_the_assistant_and_keeps_the_start(tiny_base):
    from core.loss import encode
    from core.masking import tokenize
    from core.models import load_tokenizer

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
    from core.loss import WindowLoss

    return [WindowLoss(sid, nll, n, 4 * n) for sid, ws in values.items() for nll, n in ws]


def test_bootstrap_intervals_contain_the_point_estimates():
    from core.loss import bootstrap, mean_loss

    a = _losses({"s1": [(60, 10), (30, 5)], "s2": [(45, 10)], "s3": [(70, 10)], "s4": [(20, 5), (55, 10)]})
    b = _losses({"s1": [(40, 10), (25, 5)], "s2": [(41, 10)], "s3": [(50, 10)], "s4": [(18, 5), (40, 10)]})
    ci = bootstrap(a, b, samples=500, seed=0)
    assert ci["a"][0] <= mean_loss(a) <= ci["a"][1]
    assert ci["b"][0] <= mean_loss(b) <= ci["b"][1]
    assert ci["delta"][0] <= mean_loss(b) - mean_loss(a) <= ci["delta"][1]
    assert ci["delta"][1] < 0  # b is lower in every session


def test_bootstrap_is_deterministic_for_a_seed():
    from core.loss import bootstrap

    a = _losses({"s1": [(60, 10)], "s2": [(45, 10)], "s3": [(70, 10)]})
    assert bootstrap(a, samples=200, seed=3) == bootstrap(a, samples=200, seed=3)


def test_bootstrap_resamples_sessions_not_windows():
    """One session's windows move together: with a single session the interval collapses to its loss."""
    from core.loss import bootstrap, mean_loss

    a = _losses({"only": [(60, 10), (10, 10), (90, 10)]})
    ci = bootstrap(a, samples=200)
    assert ci["a"] == [round(mean_loss(a), 4)] * 2


# --- python -m eval NAME ----------------------------------------------------------------------------------------------

MAX_TURNS, MAX_NEW_TOKENS = 6, 16  # next action: enough turns for both kinds, short generations


def _overlay(workspace, root: Path) -> str:
    cfg = yaml.safe_load(Path(workspace["overlay"]).read_text())
    for k in ("outputs", "reports", "exports"):
        cfg["paths"][k] = str(root / k)
    cfg.setdefault("eval", {}).update(max_turns=MAX_TURNS, max_new_tokens=MAX_NEW_TOKENS)
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


def test_eval_writes_eval_json_eval_md_and_metrics_png(evaluated):
    assert sorted(p.name for p in evaluated["reports"].iterdir()) == ["eval.json", "eval.md", "metrics.png"]
    assert (evaluated["reports"] / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_report_scores_base_and_adapter_on_the_held_out_windows(evaluated, workspace):
    from core.data import load_specialist_dataset

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


def test_eval_losses_equal_the_held_out_losses_training_recorded(evaluated):
    """Same windows, same mask as training: the report reproduces what the trainer measured on the test split."""
    r, t = evaluated["report"], evaluated["training"]
    assert r["base"]["loss"] == pytest.approx(t["held_out_loss_base"], abs=2e-4)  # one loss, computed one way
    assert r["adapter"]["loss"] == pytest.approx(t["held_out_loss_adapter"], abs=2e-4)


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
    na = evaluated["report"]["next_action"]
    assert f"next action {na['base']['metrics']['next_action']['rate']:.0%} -> " in lines[0]


def test_eval_batch_size_does_not_change_the_losses(evaluated):
    with redirect_stdout(io.StringIO()):
        assert eval_main([NAME, "--overlay", evaluated["overlay"], "batch_size=1"])[0] == 0
    again = json.loads((evaluated["reports"] / "eval.json").read_text())
    assert again["base"]["loss"] == pytest.approx(evaluated["report"]["base"]["loss"], abs=1e-4)
    assert again["adapter"]["loss"] == pytest.approx(evaluated["report"]["adapter"]["loss"], abs=1e-4)


# --- next action in the report ---------------------------------------------------------------------------------------

def test_eval_report_scores_the_next_action_of_base_and_adapter_with_counts(evaluated, workspace):
    from eval.actions import METRICS
    from core.data import load_specialist_dataset

    na = evaluated["report"]["next_action"]
    test = load_specialist_dataset(workspace["data"] / NAME)["test"]
    assert na["turns_available"] == sum(m["role"] == "assistant" for r in test for m in r["messages"])
    assert na["turns"] == min(MAX_TURNS, na["turns_available"]) and na["max_new_tokens"] == MAX_NEW_TOKENS
    assert na["parser"] == "generic"
    for side in ("base", "adapter"):
        m = na[side]["metrics"]
        assert sorted(m) == sorted(k for k, _, _ in METRICS)
        assert m["decision"]["total"] == m["next_action"]["total"] == na["turns"]
        assert m["tool_name"]["total"] == m["arguments"]["total"] <= na["recorded_with_call"]
        assert m["shell_program"]["total"] <= m["tool_name"]["total"]
        assert m["arguments"]["correct"] <= m["tool_name"]["correct"]
        for v in m.values():
            assert v["rate"] is None if not v["total"] else v["rate"] == round(v["correct"] / v["total"], 4)
        assert 0 <= na[side]["truncated"] <= na["turns"]
    assert na["verdict"] in ("better than base (95% interval of the next-action accuracy change above 0)",
                             "worse than base", "no clear difference from base")
    assert len(na["samples"]) == min(3, na["turns"])


def test_eval_md_has_a_next_action_table(evaluated):
    from eval.actions import METRICS

    md = (evaluated["reports"] / "eval.md").read_text()
    na = evaluated["report"]["next_action"]
    assert "## Next action" in md and na["verdict"] in md
    for key, label, _ in METRICS:
        b = na["base"]["metrics"][key]
        assert f"| {label} | " in md and (f"({b['correct']}/{b['total']})" in md or not b["total"])
    assert "![base vs adapter](metrics.png)" in md


def test_batched_generation_with_a_shared_prefix_equals_one_turn_at_a_time(evaluated, workspace):
    """Left padding after the shared prefix, its KV cache reused: the same greedy tokens as each turn alone."""
    from peft import PeftModel

    from eval.actions import generate, held_out_turns
    from core.data import load_specialist_dataset
    from core.models import load_model, load_tokenizer

    tok = load_tokenizer({"model_name_or_path": str(workspace["base"])})
    model = PeftModel.from_pretrained(load_model({"model_name_or_path": str(workspace["base"])}),
                                      str(evaluated["root"] / "outputs" / NAME / "adapter"))
    turns, _ = held_out_turns(load_specialist_dataset(workspace["data"] / NAME)["test"], MAX_TURNS)
    alone = generate(model, tok, turns, batch_size=1, max_new_tokens=MAX_NEW_TOKENS, share_prefix=False)
    together = generate(model, tok, turns, batch_size=8, max_new_tokens=MAX_NEW_TOKENS)
    assert [g.ids for g in together] == [g.ids for g in alone]
    assert [g.prompt for g in together] == [g.prompt for g in alone]
    assert all(g.truncated == (tok.eos_token_id not in g.ids) for g in together)


# --- the cross-specialist matrix -------------------------------------------------------------------------------------

WITH_TEST_SPLIT = ["forge", "oxidizer", "serpent", "swiftblade"]  # prism has none in the workspace


@pytest.fixture(scope="module")
def matrix(evaluated):
    """`python -m eval --matrix` with the one trained adapter (serpent), after its report."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert eval_main(["--matrix", "--overlay", evaluated["overlay"]])[0] == 0
    root = evaluated["root"] / "reports"
    return {"m": json.loads((root / "matrix.json").read_text()), "stdout": buf.getvalue(), "root": root}


def test_matrix_has_the_base_and_each_adapter_as_rows_and_each_test_split_as_columns(matrix):
    m = matrix["m"]
    assert m["rows"] == ["base", NAME] and m["columns"] == WITH_TEST_SPLIT
    assert len(m["loss"]) == 2 and all(len(row) == 4 and all(v > 0 for v in row) for row in m["loss"])
    assert m["next_action"] is None  # not asked for
    assert "prism: no held-out windows (no column)" in m["notes"]
    assert "forge: no trained adapter (no row)" in m["notes"]


def test_matrix_cells_are_the_losses_the_report_gives(matrix, evaluated):
    m, r = matrix["m"], evaluated["report"]
    col = m["columns"].index(NAME)
    assert m["loss"][0][col] == pytest.approx(r["base"]["loss"], abs=1e-4)
    assert m["loss"][1][col] == pytest.approx(r["adapter"]["loss"], abs=1e-4)


def test_the_diagonal_wins_after_training(matrix):
    m = matrix["m"]
    assert m["diagonal"][NAME]["loss"]["wins"] is True and m["diagonal"][NAME]["loss"]["beaten_by"] == []
    assert "the diagonal wins: each specialist's own adapter is the best model on its own test split" in matrix["stdout"]


def test_matrix_writes_summary_md_the_heat_map_and_json(matrix):
    root, m = matrix["root"], matrix["m"]
    assert (root / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (root / "summary.md").read_text()
    assert "## Cross-specialist matrix" in md and "![cross-specialist matrix](matrix.png)" in md
    own = m["loss"][1][m["columns"].index(NAME)]
    assert f"| {NAME} adapter | " in md and f"**{own:.3f}**" in md
    assert "| serpent | " in md and "better than base" in md  # the specialist's verdicts, from its eval.json
    assert "- The diagonal wins: each specialist's own adapter is the best model on its own test split" in md


def test_matrix_prints_the_verdicts_and_the_matrix(matrix):
    out = matrix["stdout"]
    assert "loss verdict" in out and "next-action verdict" in out
    row = next(line for line in out.splitlines() if line.startswith(NAME + " "))
    assert "better than base" in row or "no clear difference" in row or "worse than base" in row
    assert "cross-specialist matrix, held-out loss" in out and f"{NAME} adapter" in out
    assert out.rstrip().endswith("matrix.png")


def test_matrix_with_next_action_accuracy(evaluated, tmp_path):
    cfg = yaml.safe_load(Path(evaluated["overlay"]).read_text())
    cfg["paths"]["reports"] = str(tmp_path / "reports")
    cfg["eval"]["max_turns"] = 3
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(cfg))
    with redirect_stdout(io.StringIO()) as out:
        assert eval_main(["--matrix", "--matrix-actions", "--overlay", str(tmp_path / "overlay.yaml")])[0] == 0
    m = json.loads((tmp_path / "reports" / "matrix.json").read_text())
    assert len(m["next_action"]) == 2 and all(len(r) == 4 and all(0 <= v <= 1 for v in r) for r in m["next_action"])
    assert m["turns"] == {c: 3 for c in WITH_TEST_SPLIT}
    assert "next-action accuracy:" in out.getvalue()


def test_diagonal_misses_are_named_with_what_beats_them():
    from eval.matrix import diagonal, misses, table

    m = {"rows": ["base", "a", "b"], "columns": ["a", "b", "c"], "next_action": None,
         "loss": [[2.0, 2.0, 2.0], [1.0, 1.5, 1.2], [1.1, 1.6, 1.3]]}
    m["diagonal"] = diagonal(m)
    assert m["diagonal"]["a"]["loss"]["wins"] and not m["diagonal"]["b"]["loss"]["wins"]
    assert "c" not in m["diagonal"]  # no adapter of its own: nothing to win
    assert misses(m) == ["on b's test split, b's own adapter (loss 1.600) is matched or beaten by a adapter 1.500"]
    assert table(m).splitlines()[2] == "| base | 2.000 | 2.000 | 2.000 |"
    assert "**1.000**" in table(m) and "**1.600**" in table(m)


def test_summary_lists_every_specialist_and_points_at_the_trained_adapter_before_export(evaluated, capsys):
    rc, out, err = eval_main(["--summary", "--overlay", evaluated["overlay"]], capsys)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[0] == "specialist" and set(lines[1].replace(" ", "")) == {"-"}
    rows = {l.split()[0]: l.split() for l in lines[2:]}
    assert sorted(rows) == ["forge", "oxidizer", "prism", "serpent", "swiftblade"]
    r = evaluated["report"]
    assert rows[NAME][2:5] == [str(r["test_sessions"]), f"{r['base']['loss']:.3f}", f"{r['adapter']['loss']:.3f}"]
    assert rows[NAME][-1] == r["adapter_path"]
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
    # --all ends with the matrix; prism's adapter is a copy of serpent's, so serpent's diagonal cell is only matched
    m = json.loads((outputs.parent / "reports" / "matrix.json").read_text())
    assert m["rows"] == ["base", "prism", NAME] and "prism" not in m["columns"]
    assert f"the diagonal does not win on {NAME}'s test split, {NAME}'s own adapter" in out
    assert "matched or beaten by prism adapter" in out


def test_a_full_disk_writing_the_report_is_one_line_and_the_previous_report_stays(private, evaluated, capsys,
                                                                                   monkeypatch):
    import errno

    import eval.plots

    overlay, outputs = private
    reports = outputs.parent / "reports" / NAME
    shutil.copytree(evaluated["root"] / "reports" / NAME, reports)
    before = {p.name: p.read_bytes() for p in reports.iterdir()}

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(eval.plots, "_save", full)  # metrics.png, the first file of the report
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert "no space left on device" in line and str(reports) in line
    assert {p.name: p.read_bytes() for p in reports.iterdir()} == before  # nothing else, no staging folder


def test_a_second_eval_of_the_same_specialist_is_refused_naming_the_first(private, capsys):
    from lock_support import held

    overlay, outputs = private
    with held(outputs.parent / "reports" / NAME, "eval serpent") as pid:
        rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    assert f"pid {pid}" in _one_error_line(err)


def _trained_on_another_base(outputs: Path) -> None:
    """Make the adapter's config name a base other than the configured one."""
    cfg_path = outputs / NAME / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = "/models/some-other-base"
    cfg_path.write_text(json.dumps(cfg))


def test_eval_of_an_adapter_trained_on_another_base_exits_2(private, capsys):
    overlay, outputs = private
    _trained_on_another_base(outputs)
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    line = _one_error_line(err)
    assert "/models/some-other-base" in line and "retrain" in line


def test_matrix_with_an_adapter_trained_on_another_base_exits_2(private, capsys):
    overlay, outputs = private
    _trained_on_another_base(outputs)
    rc, out, err = eval_main(["--matrix", "--overlay", overlay], capsys)
    assert rc == 2
    assert "/models/some-other-base" in _one_error_line(err)
    assert not (outputs.parent / "reports" / "summary.md").exists()


def test_eval_without_a_dataset_exits_2(private, capsys, tmp_path):
    overlay, outputs = private
    cfg = yaml.safe_load(Path(overlay).read_text())
    cfg["paths"]["data"] = str(tmp_path / "no-data")
    Path(overlay).write_text(yaml.safe_dump(cfg))
    rc, out, err = eval_main([NAME, "--overlay", overlay], capsys)
    assert rc == 2
    assert "make extract" in _one_error_line(err)


def test_eval_with_a_zero_row_test_file_exits_2(private, capsys, tmp_path, workspace):
    from core.data import load_specialist_dataset

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
