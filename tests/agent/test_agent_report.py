"""The report from per-task results: sides, the paired table, p, interval, A/A, links; and the summary's column."""
from core import config as cfglib

from agent import evaluate
from agent.runner import Limits
from agent.tasks import load_suite


def _result(task, side, resolved, steps=3):
    return {"task": task.id, "resolved": resolved, "exit_status": "Submitted" if resolved else "LimitsExceeded",
            "steps": steps, "prompt_tokens": 100 * steps, "completion_tokens": 10 * steps, "wall_s": 1.5,
            "model": side, "error": "", "sandbox": "none"}


def test_report_counts_pairs_and_gives_a_verdict_only_outside_zero(tmp_path):
    sp = cfglib.specialist("serpent", overrides=[f"paths.reports={tmp_path}"])
    tasks = load_suite("python")[:10]
    base = [False] * 10
    spec = [True] * 9 + [False]
    aa = [False] * 9 + [True]
    results = {"base": [_result(t, "b", ok) for t, ok in zip(tasks, base)],
               "specialist": [_result(t, "s", ok, steps=2) for t, ok in zip(tasks, spec)],
               "base_aa": [_result(t, "b", ok) for t, ok in zip(tasks, aa)]}
    skipped = {"count": 2, "missing_tools": {"tsc": 2}, "tasks": ["x", "y"]}
    r = evaluate._report(sp, tasks, skipped, "python", results, Limits(), seed=0, samples=2000, serving="test")
    assert r["paired"]["table"] == {"both": 0, "only_a": 0, "only_b": 9, "neither": 1}
    assert r["paired"]["mcnemar_p"] == 2 * 0.5 ** 9
    assert r["paired"]["difference"] == 0.9 and r["paired"]["interval"][0] > 0
    assert r["paired"]["verdict"] == "serpent resolves more tasks than the base"
    assert r["aa"]["verdict"] == "no clear difference" and r["aa"]["table"]["only_b"] == 1
    assert r["sides"]["specialist"] | {"model": "s"} == r["sides"]["specialist"]
    assert (r["sides"]["specialist"]["steps"], r["sides"]["specialist"]["completion_tokens"]) == (20, 200)
    assert r["sides"]["base"]["exit_statuses"] == {"LimitsExceeded": 10}
    md = evaluate.markdown(r)
    assert "| serpent | `s` | 9/10 (90%) | 20 | 2000 | 200 | 15.0 | LimitsExceeded 1, Submitted 9 |" in md
    assert "2 skipped (toolchain missing: tsc for 2)" in md
    assert "**serpent resolves more tasks than the base**" in md
    assert f"[serpent](agent/specialist/{tasks[0].id}/{tasks[0].id}.traj.json)" in md


def test_the_cross_specialist_summary_gains_an_agent_column():
    from eval import summary

    eval_report = {"specialist": "serpent", "test_windows": 4, "base": {"loss": 2.0}, "adapter": {"loss": 1.5},
                   "verdict": "better than base (interval below 0)"}
    assert summary.rows([eval_report])[0][-1] == "not run"
    eval_report["agent_runs"] = {"tasks": 12, "sides": {"base": {"resolved": 3}, "specialist": {"resolved": 9}},
                                 "paired": {"verdict": "serpent resolves more tasks than the base"}}
    assert summary.rows([eval_report])[0][-1] == "3/12 -> 9/12, more tasks than the base"
    assert summary.HEAD[-1] == "agent tasks resolved base -> specialist"
