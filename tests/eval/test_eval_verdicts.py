"""No verdict from a handful of sessions (issue 18, point 2), and plots that read (point 15).

Below eval.min_sessions (6) held-out sessions, the loss and next-action verdicts, the summary and the matrix all say
there are too few sessions to judge, and report the numbers. metrics.png puts value labels above the error bars and
draws no next-action panel when every count is 0.
"""
from __future__ import annotations

import struct

from eval import matrix as mx
from eval import summary
from eval.actions import verdict as action_verdict
from eval.report import MIN_SESSIONS, verdict


def _report(sessions: int, delta=(-0.4768, -0.4768)) -> dict:
    return {"specialist": "prism", "language": "typescript", "test_windows": 1, "test_sessions": sessions,
            "base": {"loss": 4.059, "bits_per_byte": 1.0, "loss_ci95": [4.0, 4.1]},
            "adapter": {"loss": 3.583, "bits_per_byte": 0.9, "loss_ci95": [3.5, 3.6]},
            "delta_loss_ci95": list(delta), "settings": {"min_sessions": MIN_SESSIONS}, "next_action": None}


def test_one_held_out_session_gives_numbers_but_no_verdict():
    assert MIN_SESSIONS == 6
    r = _report(1)
    assert verdict(r).startswith("too few held-out sessions to judge (1 of the 6")
    assert verdict(_report(6)).startswith("better than base")
    assert verdict({**_report(2), "settings": {"min_sessions": 2}}).startswith("better than base")


def test_the_next_action_verdict_needs_as_many_sessions():
    na = {"sessions": 2, "delta_ci95": {"next_action": [0.2, 0.4]}}
    assert action_verdict(na).startswith("too few held-out sessions to judge (2 of the 6")
    assert action_verdict({**na, "sessions": 7}).startswith("better than base")


def test_the_summary_and_the_matrix_say_the_same():
    r = {**_report(1), "verdict": verdict(_report(1))}
    [row] = summary.rows([r])
    assert row[3] == "too few held-out sessions to judge"
    m = {"rows": ["base", "prism", "serpent"], "columns": ["prism", "serpent"], "next_action": None,
         "loss": [[4.0, 4.0], [3.5, 3.9], [3.9, 3.0]], "sessions": {"prism": 1, "serpent": 8}, "min_sessions": 6,
         "notes": [], "base_model": "b", "turns": None}
    m["diagonal"] = mx.diagonal(m)
    assert m["diagonal"]["prism"] == {"too_few": 1}
    assert m["diagonal"]["serpent"]["loss"]["wins"]
    lines = mx.diagonal_lines(m)
    assert any("too few held-out sessions to judge the diagonal" in x and "prism (1 session)" in x for x in lines)
    assert lines[0].startswith("the diagonal wins") and lines[0].endswith("(serpent)")  # judged where it can be
    text = summary.text([r], m)
    md = summary.markdown([r], m)
    for out in (text, md):
        assert "too few held-out sessions to judge" in out
        assert "better than base" not in out


def _png_width(path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_no_next_action_panel_when_every_count_is_zero(tmp_path):
    from eval.actions import METRICS
    from eval.plots import metrics_png

    zero = {key: {"rate": None, "correct": 0, "total": 0, "ci95": []} for key, _, _ in METRICS}
    na = {"turns": 0, "base": {"metrics": zero}, "adapter": {"metrics": zero}}
    metrics_png({**_report(8), "next_action": na}, tmp_path / "zero.png")
    metrics_png({**_report(8), "next_action": None}, tmp_path / "none.png")
    assert _png_width(tmp_path / "zero.png") == _png_width(tmp_path / "none.png")  # the two loss panels only


def test_value_labels_sit_above_the_error_bars():
    from eval.plots import label_at

    x, y = label_at(1.0, 3.5, [0.2, 0.3])
    assert (x, y) == (1.0, 3.8)
