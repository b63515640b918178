"""Next action: reading generated turns back into tool calls, and scoring them against the recorded turns.

The parser tests render turns with the tiny base's chat template (and a Qwen2.5 template through TRL's parser); the
scoring tests use hand-made predictions whose accuracies are known. No model runs here.
"""
from __future__ import annotations

import json

import pytest

NAME = "serpent"


@pytest.fixture(scope="module")
def tok(tiny_base):
    from core.models import load_tokenizer

    return load_tokenizer({"model_name_or_path": str(tiny_base)})


def _render_cut(tok, messages, tools, i):
    """The tokens of assistant turn i as the template renders it after its history, and the prompt before it."""
    prompt = tok.apply_chat_template(messages[:i], tools=tools, add_generation_prompt=True, tokenize=True,
                                     return_dict=True)["input_ids"]
    full = tok.apply_chat_template(messages[:i + 1], tools=tools, tokenize=True, return_dict=True)["input_ids"]
    assert list(full[:len(prompt)]) == list(prompt)
    return list(full[len(prompt):]), list(prompt)


def _calls(calls):
    return [(c.name, c.arguments) for c in calls]


TURN = [
    {"role": "system", "content": "You are serpent."},
    {"role": "user", "content": "Run the tests."},
    {"role": "assistant", "content": "Reading the config, then the tests.", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "read", "arguments": {"filePath": "pyproject.toml",
                                                                                    "limit": 40}}},
        {"id": "b", "type": "function", "function": {"name": "bash", "arguments": {
            "command": "pytest -q tests/", "description": "run the tests", "timeout": 120.5,
            "env": {"B": [1, 2], "A": None}}}}]},
]


# --- the parser -------------------------------------------------------------------------------------------------------

def test_parser_reads_back_a_turn_the_tiny_template_rendered(tok):
    from eval.toolcalls import TurnParser, recorded_calls

    parser = TurnParser(tok)
    assert parser.kind == "generic"  # TRL knows no response template for the tiny base's template
    ids, prompt = _render_cut(tok, TURN, None, 2)
    got = parser(ids, prefix=prompt)
    assert got.text == "Reading the config, then the tests."
    assert _calls(got.calls) == _calls(recorded_calls(TURN[2]))
    assert got.calls[1].arguments == TURN[2]["tool_calls"][1]["function"]["arguments"]  # nested, null, float kept


def test_parser_reads_back_every_held_out_turn_of_the_workspace(tok, workspace):
    from eval.toolcalls import TurnParser, recorded_calls
    from core.data import load_specialist_dataset

    parser = TurnParser(tok)
    seen = with_calls = 0
    for row in load_specialist_dataset(workspace["data"] / NAME)["test"]:
        msgs = row["messages"]
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            ids, prompt = _render_cut(tok, msgs, row["tools"], i)
            got = parser(ids, prefix=prompt, tools=row["tools"])
            assert _calls(got.calls) == _calls(recorded_calls(m)), (row["session_id"], i)
            assert got.text == (m.get("content") or "").strip()
            seen += 1
            with_calls += bool(m.get("tool_calls"))
    assert seen > 5 and 0 < with_calls < seen  # both kinds of turn were checked


def test_a_known_template_goes_through_trls_response_parser(tok, tiny_base):
    """A Qwen2.5 chat template: add_response_schema knows it, and TRL's parse_response reads the calls back."""
    from trl.chat_template_utils import qwen2_5_chat_template

    from eval.toolcalls import TurnParser, recorded_calls
    from core.models import load_tokenizer

    qwen = load_tokenizer({"model_name_or_path": str(tiny_base)})
    qwen.chat_template = qwen2_5_chat_template
    parser = TurnParser(qwen)
    assert parser.kind == "trl"
    ids, prompt = _render_cut(qwen, TURN, None, 2)
    assert "\n<tool_call>\n{" in qwen.decode(ids)  # Qwen's layout, not the tiny one's
    got = parser(ids, prefix=prompt)
    assert got.text == "Reading the config, then the tests."
    assert _calls(got.calls) == _calls(recorded_calls(TURN[2]))


@pytest.mark.parametrize("text, calls, rest", [
    ('<tool_call>\n{"name": "read", "arguments": {"filePath": "a.py"}}\n</tool_call>', [("read", {"filePath": "a.py"})],
     ""),
    ('I will look.<tool_call>```json\n{"name": "grep", "arguments": "{\\"pattern\\": \\"x\\"}"}\n```</tool_call>',
     [("grep", {"pattern": "x"})], "I will look."),
    ("<tool_call>\n<function=bash>\n<parameter=command>\nls -la\n</parameter>\n<parameter=timeout>\n60\n</parameter>\n"
     "</function>\n</tool_call>", [("bash", {"command": "ls -la", "timeout": 60})], ""),
    ('{"name": "read", "parameters": {"filePath": "b.rs"}}', [("read", {"filePath": "b.rs"})], ""),
    ('Two at once: [{"name": "a", "arguments": {}}, {"type": "function", "function": {"name": "b", "arguments": {}}}]',
     [("a", {}), ("b", {})], "Two at once:"),
    ('<think>The test fails.</think>Done. The config is {"name": "x"}.', [], 'Done. The config is {"name": "x"}.'),
    ("All tests pass.", [], "All tests pass."),
])
def test_parse_text_reads_the_common_tool_call_formats(text, calls, rest):
    from eval.toolcalls import parse_text

    got = parse_text(text)
    assert _calls(got.calls) == calls
    assert got.text == rest


def test_a_call_cut_off_by_the_token_limit_is_a_call_with_unknown_arguments():
    from eval.toolcalls import parse_text

    got = parse_text('Let me edit.<tool_call>{"name": "edit", "arguments": {"filePath": "a.py", "oldStr')
    assert _calls(got.calls) == [("edit", None)]
    assert got.text == "Let me edit."
    assert _calls(parse_text("<tool_call>{").calls) == [(None, None)]  # a call was begun, nothing more


def test_reasoning_is_kept_apart_from_the_text():
    from eval.toolcalls import parse_text

    got = parse_text("<think>Check the import first.</think>\nReading it.")
    assert got.reasoning == "Check the import first." and got.text == "Reading it."


# --- comparing calls --------------------------------------------------------------------------------------------------

def test_arguments_match_after_json_normalisation():
    from eval.toolcalls import normalise_arguments

    assert normalise_arguments({"b": 1, "a": {"y": 2.0, "x": [1, 2]}}) == normalise_arguments(
        '{"a": {"x": [1, 2], "y": 2}, "b": 1.0}')
    assert normalise_arguments({"a": "1"}) != normalise_arguments({"a": 1})
    assert normalise_arguments({"a": [1, 2]}) != normalise_arguments({"a": [2, 1]})
    assert normalise_arguments(None) is None


@pytest.mark.parametrize("name, args, program", [
    ("bash", {"command": "pytest -q tests/"}, "pytest"),
    ("bash", {"command": "FOO=1 BAR='a b' sudo -u dev env -i /usr/bin/python3 -m pip list"}, "python3"),
    ("shell", {"command": ["bash", "-lc", "cargo test --all"]}, "cargo"),
    ("shell", {"command": ["git", "status"]}, "git"),
    ("exec_command", {"cmd": "bundle exec rspec"}, "bundle"),
    ("bash", {"command": "echo 'unbalanced"}, "echo"),
    ("read", {"command": "pytest"}, None),
    ("bash", {"description": "no command"}, None),
])
def test_shell_program_is_the_first_word_of_the_command(name, args, program):
    from eval.toolcalls import ToolCall, shell_program

    assert shell_program(ToolCall(name, args)) == program


# --- scoring ----------------------------------------------------------------------------------------------------------

def _c(name, **args):
    from eval.toolcalls import ToolCall

    return ToolCall(name, args)


def test_scoring_known_generations_gives_known_accuracies():
    from eval.actions import rates, score_turn
    from eval.toolcalls import ToolCall

    cases = [  # (predicted calls, recorded calls)
        ([_c("read", filePath="a.py")], [_c("read", filePath="a.py")]),               # all right
        ([_c("read", filePath="b.py")], [_c("read", filePath="a.py")]),               # right tool, wrong arguments
        ([_c("grep", pattern="x")], [_c("read", filePath="a.py")]),                  # wrong tool
        ([], [_c("bash", command="pytest -q")]),                                     # should have called
        ([_c("bash", command="pytest -x")], []),                                     # should not have called
        ([], []),                                                                    # right to stay quiet
        ([_c("bash", command="FOO=1 pytest -q", description="t")],                   # same program, other command
         [_c("bash", command="pytest", description="t")]),
        ([_c("bash", command="ls")], [_c("bash", command="pytest")]),                # other program
        ([ToolCall("bash", None)], [_c("bash", command="ls")]),                      # cut off: arguments unknown
        ([_c("read", filePath="a.py"), _c("bash", command="ls")],                    # the first call is the action
         [_c("read", filePath="a.py")]),
    ]
    r = rates([score_turn(p, ref) for p, ref in cases])
    # decision: wrong on cases 4 and 5 only
    assert (r["decision"]["correct"], r["decision"]["total"]) == (8, 10)
    # both called on 1, 2, 3, 7, 8, 9, 10; the tool differs on 3 only
    assert (r["tool_name"]["correct"], r["tool_name"]["total"]) == (6, 7)
    # arguments exact on 1 and 10
    assert (r["arguments"]["correct"], r["arguments"]["total"]) == (2, 7)
    # recorded first call is a shell command, and both called: 7, 8, 9; same program on 7 only
    assert (r["shell_program"]["correct"], r["shell_program"]["total"]) == (1, 3)
    # next action: right call (1, 2, 7, 8, 9, 10) or right silence (6)
    assert (r["next_action"]["correct"], r["next_action"]["total"]) == (7, 10)
    assert r["next_action"]["rate"] == 0.7


def test_a_metric_with_no_turn_to_count_has_no_rate():
    from eval.actions import rates, score_turn

    r = rates([score_turn([], []), score_turn([], [])])
    assert r["tool_name"] == {"correct": 0, "total": 0, "rate": None}
    assert r["decision"]["rate"] == 1.0


def test_next_action_intervals_contain_the_rates_and_resample_sessions():
    from eval.actions import bootstrap_rates, rates, score_turn

    ref = [_c("read", filePath="a")]
    base = [score_turn([], ref, f"s{i % 4}") for i in range(12)]  # never calls: 0%
    tuned = [score_turn(ref if i % 3 else [], ref, f"s{i % 4}") for i in range(12)]  # 8 of 12
    ci = bootstrap_rates(base, tuned, samples=300)
    assert ci["next_action"]["a"] == [0.0, 0.0]
    lo, hi = ci["next_action"]["b"]
    assert lo <= rates(tuned)["next_action"]["rate"] <= hi
    assert ci["next_action"]["delta"][0] > 0
    one = [score_turn(ref, ref, "only"), score_turn([], ref, "only")]
    assert bootstrap_rates(one, one, samples=50)["next_action"]["a"] == [0.5, 0.5]  # one session: no spread


def test_held_out_turns_are_every_assistant_turn_once_or_a_seeded_sample(workspace):
    from eval.actions import held_out_turns
    from core.data import load_specialist_dataset

    test = load_specialist_dataset(workspace["data"] / NAME)["test"]
    every, n = held_out_turns(test, None)
    assert n == len(every) == sum(m["role"] == "assistant" for r in test for m in r["messages"])
    assert all(t.history[-1]["role"] in ("user", "tool") and t.history[0]["role"] == "system" for t in every)
    some, n2 = held_out_turns(test, 5)
    assert n2 == n and len(some) == 5
    assert [t.history for t in some] == [t.history for t in held_out_turns(test, 5)[0]]  # the same sample again
    keys = [json.dumps(t.history) for t in every]
    assert sorted(keys.index(json.dumps(t.history)) for t in some) == [keys.index(json.dumps(t.history))
                                                                      for t in some]  # in their original order
    assert held_out_turns(test, 0)[0] == []
