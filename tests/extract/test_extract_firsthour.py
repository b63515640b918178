"""Extraction results a user can trust (issue 18, points 1, 4, 5 and 15).

- The task of a session comes from what is specific to it: text many sessions share is a template, a SWE-bench
  instance id is a task, and several runs of one instance are one task (on one side of the split).
- Counts add up: extract, analyze and compare count the same sessions and steps; p95 is never above max; the rows
  skipped in kept sessions are told apart from the others.
- The assistant's own text is never cut: an over-budget step is kept whole and counted.
- A session in a language without a specialist says so; the progress bar never runs into an error line.
"""
from __future__ import annotations

import copy
import json
import random

from extract.records import Session, Step, ToolCall, Turn
from extract.split import Templates, task_key
from extract.windows import Windower, WindowStats, estimate_tokens
from extract_support import SIGNAL, add_session, extract, main, manifest, new_store, rows

WORDS = ("parser cache module config token stream buffer index query router schema worker queue socket "
         "session header payload render layout widget handler signal thread lock table column filter").split()
TEMPLATE = " ".join(f"Instruction {i}: follow the harness rules carefully, run the tests, keep the diff minimal "
                    f"and submit with the final command." for i in range(40))  # ~800 words, shared by every task


def _issue(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(40))


def _session(prompt: str, task: str | None = None, sid: str = "s") -> Session:
    return Session(id=sid, source="mini-swe-agent", agent="build", directory="/w", title="t", time_created=0,
                   turns=[Turn(prompt=prompt, steps=[Step(text="ok")])], task=task)


# --- point 1: task identity ----------------------------------------------------------------------------------------

def test_text_shared_by_many_sessions_is_a_template_not_the_task():
    rng = random.Random(0)
    sessions = [_session(f"{TEMPLATE}\n<issue>{_issue(rng)}</issue>", sid=str(i)) for i in range(12)]
    templates = Templates(sessions).freeze()
    keys = {task_key(s, templates) for s in sessions}
    assert len(keys) == 12  # every instance its own task
    rerun = _session(sessions[3].turns[0].prompt, sid="again")
    assert task_key(rerun, templates) == task_key(sessions[3], templates)  # a re-run is the same task


def test_a_swe_bench_instance_id_is_the_task_whatever_the_prompt():
    a = _session("first wording of the issue", task="django__django-11099")
    b = _session("a completely different rendering of it", task="django__django-11099")
    c = _session("first wording of the issue", task="sympy__sympy-20590")
    assert task_key(a) == task_key(b) != task_key(c)


def test_templated_sessions_split_across_both_sides(tmp_path):
    """Before: every templated session hashed to nearly the same task, so the split was all or nothing."""
    rng = random.Random(1)
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        p = b.project("/w")
        for i in range(16):
            add_session(b, p, f"{TEMPLATE}\n<issue>{_issue(rng)}</issue>", title=f"task {i}")
    out = tmp_path / "out"
    assert extract(db, out, "extract.test_fraction=0.5") == 0
    sides = {r["_split"] for r in rows(out, "serpent")}
    assert sides == {"train", "test"}


def test_two_runs_of_one_instance_are_one_task_and_two_sessions_everywhere(tmp_path, capsys):
    from extract.datatools import analyze, compare

    runs = tmp_path / "swe"
    traj = {"trajectory_format": "mini-swe-agent-1.1", "instance_id": "django__django-11099",
            "info": {"exit_status": "Submitted"},
            "messages": [{"role": "system", "content": "system"},
                         {"role": "user", "content": TEMPLATE + " UsernameValidator allows a trailing newline"},
                         {"role": "assistant", "content": "Look.", "tool_calls": [
                             {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": json.dumps(
                                 {"command": "python -m pytest tests/auth_tests/test_validators.py"})}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "1 failed", "extra": {"returncode": 1}}]}
    for run, text in (("run1", "Look."), ("run2", "Look again, differently.")):
        t = copy.deepcopy(traj)
        t["messages"][2]["content"] = text
        d = runs / run / t["instance_id"]
        d.mkdir(parents=True)
        (d / f"{t['instance_id']}.traj.json").write_text(json.dumps(t))
    out = tmp_path / "out"
    assert main(["--swe-dir", str(runs), "--out", str(out), "--quiet", "extract.agent_files=false",
                 "extract.test_fraction=0.5"]) == 0
    m = manifest(out)
    found = rows(out, "serpent")
    assert m["sessions_kept"] == 2 == len({r["session_id"] for r in found})
    assert len({r["_split"] for r in found}) == 1  # one task: one side
    a = analyze(out, 4096)["specialists"]["serpent"]["mini-swe-agent"]
    assert a["sessions"] == m["specialists"]["serpent"]["train_sessions"] + m["specialists"]["serpent"]["test_sessions"]
    assert a["steps"] == m["specialists"]["serpent"]["assistant_steps"]
    assert sum(a["tool_calls"].values()) == m["specialists"]["serpent"]["tool_calls"]
    assert sum(a["outcomes"].values()) == 2
    assert "2 -> 2 (+0)" in compare(out, out).splitlines()[3]  # serpent's sessions, as extract counted them


def test_no_held_out_warning_names_holdout_recent(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        add_session(b, b.project("/w"), "Fix the parser")
    assert extract(db, tmp_path / "out", "extract.test_fraction=0") == 0
    out = capsys.readouterr().out
    assert "no held-out sessions for serpent" in out and "extract.holdout=recent" in out


# --- point 4: counts that add up -----------------------------------------------------------------------------------

def test_p95_is_never_above_max():
    from extract.datatools import _dist
    from train.sft import describe_lengths

    d = _dist([100, 4000], None)
    assert d["p95"] <= d["max"] == 4000
    assert "p95 3805, max 4000" in describe_lengths([100, 4000], 4096)


def test_the_summary_says_what_steps_are(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        add_session(b, b.project("/w"), "Fix the parser")
    assert extract(db, tmp_path / "out") == 0
    assert "steps are assistant steps" in capsys.readouterr().out
    from extract.datatools import STEPS, analysis_text, analyze

    assert STEPS in analysis_text(analyze(tmp_path / "out", None))


# --- point 5: trained text is never altered ------------------------------------------------------------------------

def test_an_over_budget_assistant_text_is_kept_whole_and_counted():
    long_text = "I will now explain every line. " * 400  # ~4000 tokens by the estimate, in a 1000-token budget
    step = Step(text=long_text, tool_calls=[ToolCall(id="c", name="bash", arguments={"command": "ls"},
                                                     output="x" * 20_000)])
    stats = WindowStats()
    session = Session(id="s", source="opencode", agent="build", directory="/w", title="t", time_created=0,
                      turns=[Turn(prompt="Explain.", steps=[step])])
    [w] = Windower("system", [], 1000, estimate_tokens).windows(session, stats)
    assistant = next(m for m in w.messages if m["role"] == "assistant")
    assert assistant["content"] == long_text and "characters cut" not in assistant["content"]
    tool = next(m for m in w.messages if m["role"] == "tool")
    assert "characters cut" in tool["content"]  # tool outputs (not trained) are still cut
    assert (stats.cut_steps, stats.over_budget_steps) == (1, 1)


def test_training_advises_extract_tokenizer_when_the_estimate_was_off(tmp_path):
    from core.config import Specialist
    from train.sft import describe_over_length

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps(
        {"settings": {"window_tokens": 4096, "token_counter": "estimate (3 chars/token)"}}))
    sp = Specialist("serpent", "python", "", {"paths": {"data": str(tmp_path / "data")},
                                              "model": {"model_name_or_path": "Qwen/Qwen2.5-Coder-1.5B-Instruct"}})
    report = {"over_max_length": 38, "windows": 56, "max_length": 4096, "action": "TRL keeps the first 4096"}
    note = describe_over_length(report, sp)
    assert "extract.tokenizer=Qwen/Qwen2.5-Coder-1.5B-Instruct" in note
    assert "extract.window_tokens <=" not in note


# --- point 15: a language without a specialist; no bar before an error ---------------------------------------------

def test_javascript_and_css_sessions_are_a_language_without_a_specialist(tmp_path):
    db = tmp_path / "store" / "opencode.db"
    web = [{"tool": "read", "input": {"filePath": "/w/src/app.js"}, "output": "1: export {}"},
           {"tool": "edit", "input": {"filePath": "/w/src/site.css", "oldString": "a", "newString": "b"},
            "output": "ok"},
           {"tool": "read", "input": {"filePath": "/w/src/menu.js"}, "output": "1: export {}"}]
    with new_store(db) as b:
        add_session(b, b.project("/w"), "Style the menu", steps=[{"text": "Looking.", "tools": web},
                                                                 {"text": "Done.", "finish": "stop"}])
        add_session(b, b.project("/w"), "Fix the parser")
    assert extract(db, tmp_path / "out") == 0
    skipped = manifest(tmp_path / "out")["sessions_skipped"]
    assert "no signal" not in skipped
    assert skipped == {"language javascript has no specialist": 1}


def test_the_progress_bar_never_runs_into_an_error_line(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        for i in range(3):
            add_session(b, b.project("/w"), f"Fix bug {i}")
    # a budget too small for the system prompt and tools: found at the first session, with the bar drawn
    assert main(["--db", str(db), "--out", str(tmp_path / "out"), "extract.agent_files=false",
                 "extract.window_tokens=60"]) == 2
    err = capsys.readouterr().err
    line = next(x for x in err.split("\n") if "extract: error:" in x)
    assert line.split("\r")[-1].startswith("extract: error:")
    assert "%|" not in line.split("\r")[-1] and "session/s" not in line.split("\r")[-1]
