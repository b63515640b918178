"""Extraction spec, windows: sessions are cut at step boundaries into windows that fit the token budget; every
window opens with the system prompt and the prompt it answers; every step is trained in exactly one window; a
step too large is cut, never dropped."""
from __future__ import annotations

import re

import pytest

from core.config import ConfigError
from extract.records import Session, Step, ToolCall, Turn
from extract.windows import WindowStats, Windower, message_tokens, tools_tokens
from extract_support import SIGNAL, extract, manifest, new_store, rows


def count(text: str) -> int:
    return len(text) // 4


SYSTEM = "You are serpent. " * 4
TOOLS = [{"type": "function", "function": {"name": "bash", "description": "Run a command.",
                                           "parameters": {"type": "object", "properties": {"command": {}}}}}]


def _step(tag: str, size: int = 200, calls: int = 1) -> Step:
    """A step whose text is `tag` and whose tool outputs are `size` characters each."""
    return Step(text=tag, tool_calls=[ToolCall(id=f"{tag}-c{i}", name="bash", arguments={"command": f"echo {tag}"},
                                               output=(f"[{tag}]" + "o" * size)[:size]) for i in range(calls)])


def _session(turns: list[tuple[str, list[Step]]]) -> Session:
    return Session(id="ses_w", source="opencode", agent="build", directory="/w", title="t", time_created=0,
                   turns=[Turn(prompt=p, steps=s) for p, s in turns])


def _many_turns() -> Session:
    sizes = [150, 900, 40, 1200, 300, 300, 300, 60, 2000, 10]
    turns, k = [], 0
    for t in range(4):
        steps = []
        for _ in range(t + 2):
            steps.append(_step(f"step-{k}", sizes[k % len(sizes)], calls=1 + k % 3))
            k += 1
        turns.append((f"Prompt number {t}: do part {t} of the job.", steps))
    return _session(turns)


def _assistant_texts(windows):
    return [m["content"] for w in windows for m in w.messages if m["role"] == "assistant"]


def test_every_step_is_in_exactly_one_window_in_order():
    session = _many_turns()
    windows = Windower(SYSTEM, TOOLS, 700, count).windows(session, WindowStats())
    assert len(windows) > 3  # the budget forces several windows
    assert _assistant_texts(windows) == [s.text for s in session.steps]
    assert sum(w.n_steps for w in windows) == len(session.steps)


def test_every_window_starts_with_the_system_prompt_then_the_prompt_its_first_step_answers():
    session = _many_turns()
    for w in Windower(SYSTEM, TOOLS, 700, count).windows(session, WindowStats()):
        assert w.messages[0] == {"role": "system", "content": SYSTEM}
        assert w.messages[1] == {"role": "user", "content": session.turns[w.first_turn].prompt}
        assert w.messages[2]["role"] == "assistant"


def test_each_step_follows_the_prompt_of_its_own_turn():
    session = _many_turns()
    turn_of = {s.text: t.prompt for t in session.turns for s in t.steps}
    for w in Windower(SYSTEM, TOOLS, 700, count).windows(session, WindowStats()):
        prompt = None
        for m in w.messages:
            if m["role"] == "user":
                prompt = m["content"]
            elif m["role"] == "assistant":
                assert prompt == turn_of[m["content"]]


def test_each_call_is_followed_by_its_tool_message():
    session = _many_turns()
    for w in Windower(SYSTEM, TOOLS, 700, count).windows(session, WindowStats()):
        msgs = w.messages
        for i, m in enumerate(msgs):
            if m["role"] == "assistant":
                ids = [c["id"] for c in m["tool_calls"]]
                assert [x["tool_call_id"] for x in msgs[i + 1:i + 1 + len(ids)]] == ids


def test_windows_fit_the_budget_and_record_their_token_count():
    session = _many_turns()
    windower = Windower(SYSTEM, TOOLS, 700, count)
    for w in windower.windows(session, WindowStats()):
        expected = windower.header + sum(message_tokens(m, count) for m in w.messages[1:])
        assert w.tokens == expected
        assert w.tokens <= 700


def test_a_multi_turn_session_within_budget_is_one_window_with_every_prompt():
    session = _session([("First prompt.", [_step("a"), _step("b")]), ("Second prompt.", [_step("c")])])
    [w] = Windower(SYSTEM, TOOLS, 100_000, count).windows(session, WindowStats())
    assert [(m["role"], m["content"]) for m in w.messages if m["role"] != "tool"] == [
        ("system", SYSTEM), ("user", "First prompt."), ("assistant", "a"), ("assistant", "b"),
        ("user", "Second prompt."), ("assistant", "c")]
    assert (w.first_turn, w.n_steps) == (0, 3)


def test_a_window_that_starts_mid_turn_repeats_that_turns_prompt():
    session = _session([("Only prompt.", [_step(f"s{i}", 1500) for i in range(4)])])
    windows = Windower(SYSTEM, TOOLS, 600, count).windows(session, WindowStats())
    assert len(windows) == 4
    assert all(w.messages[1] == {"role": "user", "content": "Only prompt."} and w.first_turn == 0 for w in windows)


_MARKER = re.compile(r"\[\.\.\. (\d+) characters cut \.\.\.\]")


def test_a_step_bigger_than_the_budget_is_cut_and_counted_never_dropped():
    big = _step("huge", 100_000, calls=2)
    session = _session([("Prompt.", [_step("before"), big, _step("after")])])
    stats = WindowStats()
    windows = Windower(SYSTEM, TOOLS, 1000, count).windows(session, stats)

    assert _assistant_texts(windows) == ["before", "huge", "after"]
    [w] = [w for w in windows if any(m.get("content") == "huge" for m in w.messages)]
    assert w.tokens <= 1000
    assistant = next(m for m in w.messages if m.get("content") == "huge")
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == [{"command": "echo huge"}] * 2
    outputs = [m["content"] for m in w.messages if m["role"] == "tool"]
    assert len(outputs) == 2
    for out in outputs:
        [n] = _MARKER.findall(out)
        assert out.startswith("[huge]") and len(out) < 100_000
        assert len(out) - len(f"\n[... {n} characters cut ...]\n") + int(n) == 100_000
    assert (stats.cut_steps, stats.over_budget_steps, stats.steps) == (1, 0, 3)


def test_a_step_whose_arguments_alone_exceed_the_budget_is_kept_whole_and_reported():
    huge_args = Step(text="writing", tool_calls=[ToolCall(id="w1", name="write", output="Wrote file successfully.",
                                                          arguments={"filePath": "a.py", "content": "x" * 20_000})])
    stats = WindowStats()
    [w] = Windower(SYSTEM, TOOLS, 1000, count).windows(_session([("Prompt.", [huge_args])]), stats)
    assert w.messages[2]["tool_calls"][0]["function"]["arguments"] == {"filePath": "a.py", "content": "x" * 20_000}
    assert w.messages[2]["content"] == "writing"
    assert (stats.cut_steps, stats.over_budget_steps) == (0, 1)  # nothing to cut: kept whole and counted


def test_a_long_prompt_is_cut_to_leave_room_for_its_steps():
    session = _session([("p" * 50_000, [_step("a")])])
    stats = WindowStats()
    [w] = Windower(SYSTEM, TOOLS, 1000, count).windows(session, stats)
    assert w.tokens <= 1000 and len(_MARKER.findall(w.messages[1]["content"])) == 1
    assert stats.prompts_cut == 1


@pytest.mark.parametrize("chars_per_token", [1, 2, 6])
def test_a_long_prompt_is_cut_to_what_the_configured_counter_counts(chars_per_token):
    """A tokenizer's tokens are not 3 characters: the cut prompt fits half the room as that tokenizer counts it."""
    def tokens(text: str) -> int:
        return -(-len(text) // chars_per_token)

    session = _session([("word " * 20_000, [_step("a")])])
    windower = Windower(SYSTEM, TOOLS, 2000, tokens)
    [w] = windower.windows(session, WindowStats())
    room = 2000 - windower.header
    assert room // 4 < tokens(w.messages[1]["content"]) <= room // 2  # cut to fit, not far below the limit
    assert w.tokens <= 2000


def test_window_stats_count_windows_and_steps():
    session = _many_turns()
    stats = WindowStats()
    windows = Windower(SYSTEM, TOOLS, 700, count).windows(session, stats)
    assert (stats.windows, stats.steps) == (len(windows), len(session.steps))


def test_a_budget_the_system_prompt_and_tools_nearly_fill_is_a_config_error():
    header = 6 + count(SYSTEM) + tools_tokens(TOOLS, count)
    Windower(SYSTEM, TOOLS, header * 4 // 3 + 4, count)  # a quarter left: fine
    with pytest.raises(ConfigError, match="window budget"):
        Windower(SYSTEM, TOOLS, header, count)


def test_a_window_budget_too_small_for_the_tools_stops_extraction_with_one_error_line(tmp_path, capsys):
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="t", agent="build")
        b.assistant_step(sid, b.user_message(sid, "Fix it"), tools=SIGNAL["python"], finish="stop")
    out = tmp_path / "out"
    capsys.readouterr()
    assert extract(db, out, "extract.window_tokens=300") == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("extract: error: window budget of 300 tokens")
    assert not out.exists()  # no staging folder, no partial output, not even the empty folder


def test_extracted_windows_are_measured_with_the_configured_tokenizer(tmp_path, tiny_base):
    from transformers import AutoTokenizer

    from extract.windows import TemplateMeasure, tokenizer_counter

    log = "".join(f"test_case_{i} ... ok\n" for i in range(600))
    db = tmp_path / "store" / "opencode.db"
    with new_store(db) as b:
        sid = b.session(b.project("/w"), directory="/w", title="t", agent="build")
        u = b.user_message(sid, "Fix the failing test")
        for i in range(6):
            b.assistant_step(sid, u, text=f"Step {i}.", tools=SIGNAL["python"] + [
                {"tool": "bash", "input": {"command": f"pytest -k case{i}", "description": "Test"}, "output": log}])
    out = tmp_path / "out"
    assert extract(db, out, f"extract.tokenizer={tiny_base}", "extract.window_tokens=3000",
                   "extract.tool_output_chars=4000") == 0
    found = rows(out, "serpent")
    assert len(found) > 1
    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    n, measure = tokenizer_counter(tok), TemplateMeasure(tok)
    for r in found:  # the opening exactly as the template renders it; each message with the template's overheads
        header = len(tok.apply_chat_template(r["messages"][:1], tools=r["tools"], tokenize=True,
                                             return_dict=True)["input_ids"])
        assert measure.header(r["messages"][0]["content"], r["tools"]) == header
        assert r["est_tokens"] == header + sum(message_tokens(m, n, measure.overheads) for m in r["messages"][1:])
        assert r["est_tokens"] <= 3000
    assert manifest(out)["settings"]["token_counter"] == str(tiny_base)
    assert [r["window_index"] for r in sorted(found, key=lambda r: r["window_index"])] == list(range(len(found)))
    assert {r["window_count"] for r in found} == {len(found)}
    assert sum(r["steps"] for r in found) == 6
