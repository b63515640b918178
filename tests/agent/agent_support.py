"""Agent test support: two tiny Python tasks, and a LoRA on a tiny base over-fit to answer every agent prompt with one fix.

The over-fit adapter is what makes an end-to-end agent run checkable: this project's server serves it (its
adapter.gguf, exported as `make export` exports it) on the tiny base, and every reply is known, so mini-swe-agent
solves `fixable` (the fix applies) and not `other` (it changes nothing there), the base never writes an action, and
the paired table, the p value and the report have known answers.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

FIX_COMMAND = "sed -i 's/return a - b/return a + b/' calc.py && python3 -c 'import calc'"
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
# two steps, as mini-swe-agent asks: the fix (and a check that calc.py still imports), then the submission alone
REPLIES = [f"THOUGHT: add() subtracts; it must add.\n\n```mswea_bash_command\n{FIX_COMMAND}\n```",
           f"THOUGHT: The fix is in place.\n\n```mswea_bash_command\n{SUBMIT}\n```"]

TASKS = {
    "fixable": ("add(a, b) in calc.py returns the difference instead of the sum. Fix it.",
                "def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a + b\n",
                "from calc import add\nassert add(2, 3) == 5\n"),
    "other": ("mul(a, b) in calc.py returns the sum instead of the product. Fix it.",
              "def mul(a, b):\n    return a + b\n", "def mul(a, b):\n    return a * b\n",
              "from calc import mul\nassert mul(2, 3) == 6\n"),
}


def write_tasks(root: Path) -> Path:
    """A task set folder with the two tasks (fixable first), in the bundled tasks' layout."""
    for name, (instruction, buggy, fixed, check) in TASKS.items():
        d = root / name
        for sub, text, file in (("repo", buggy, "calc.py"), ("fix", fixed, "calc.py"), ("judge", check, "check.py")):
            (d / sub).mkdir(parents=True, exist_ok=True)
            (d / sub / file).write_text(text)
        (d / "task.yaml").write_text(textwrap.dedent(f"""\
            language: python
            instruction: "{instruction}"
            test: python3 check.py
            timeout: 30
            """))
    return root


def contexts(task, tmp: Path) -> list[tuple[list[dict], str]]:
    """What mini-swe-agent (its text-mode config) sends before each of REPLIES on task, and that reply.

    The agent itself renders them: it runs on a copy of the task with mini-swe-agent's scripted test model giving
    REPLIES, so the prompts, the observation of the fix and its formatting are exactly those of a real run.
    """
    from agent.runner import TEXT_CONFIG, mini

    mini()
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.config import get_config_from_spec
    from minisweagent.environments.local import LocalEnvironment
    from minisweagent.models.test_models import DeterministicModel, make_output

    cfg = get_config_from_spec(TEXT_CONFIG)
    work = task.checkout(tmp / "work")
    model = DeterministicModel(outputs=[make_output(REPLIES[0], [{"command": FIX_COMMAND}]),
                                        make_output(REPLIES[1], [{"command": SUBMIT}])],
                               observation_template=cfg["model"]["observation_template"])
    agent = DefaultAgent(model, LocalEnvironment(cwd=str(work)), system_template=cfg["agent"]["system_template"],
                         instance_template=cfg["agent"]["instance_template"], step_limit=3)
    agent.run(task.instruction)
    msgs = [{"role": m["role"], "content": m["content"]} for m in agent.messages]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "exit"], msgs
    return [(msgs[:2], REPLIES[0]), (msgs[:4], REPLIES[1])]


def overfit(base: Path, out: Path, examples: list[tuple[list[dict], str]], *, max_steps: int = 400) -> dict:
    """Train a LoRA on base (every linear layer, full rank at this width) until greedy decoding of each context gives
    exactly its reply; save it to `out` as training saves an adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-wide model: one thread is many times faster than several on a busy CPU
    tok = AutoTokenizer.from_pretrained(base)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                           LoraConfig(r=64, lora_alpha=64, target_modules="all-linear", lora_dropout=0.0))
    batch = []
    for msgs, reply in examples:
        target = tok(reply + tok.eos_token, add_special_tokens=False).input_ids
        prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        ids = torch.tensor([list(prompt) + target])
        labels = ids.clone()
        labels[0, :len(prompt)] = -100
        batch.append((ids, labels, len(prompt), target))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    step = 0
    while step < max_steps:
        model.train()
        for ids, labels, _, _ in batch:
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
        opt.step()
        opt.zero_grad()
        step += 1
        if step % 25 == 0 and _all_greedy(model, batch):
            break
    else:
        raise RuntimeError(f"the model did not learn the reply in {max_steps} steps (loss {loss.item():.3f})")
    torch.set_num_threads(threads)
    model.save_pretrained(out)
    return {"steps": step, "loss": loss.item()}


def export_as_specialist(adapter: Path, base: Path, root: Path, name: str, settings: dict) -> Path:
    """An overlay whose folders live under root, with `adapter` as `name`'s trained adapter, exported as `make export
    NAME=name` does (adapter.gguf included), so that this project's server serves it; `settings` go under it."""
    import yaml

    from export.bundle import main as export_main

    shutil.copytree(adapter, root / "outputs" / name / "adapter")
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "paths": {k: str(root / k) for k in ("data", "outputs", "reports", "exports", "cycles")},
        "model": {"model_name_or_path": str(base), "dtype": "float32"}, **settings}))
    assert export_main([name, "--overlay", str(overlay)]) == 0
    assert (root / "exports" / name / "adapter.gguf").is_file()
    return overlay


def _all_greedy(model, batch) -> bool:
    import torch

    model.eval()
    with torch.no_grad():
        for ids, _, n, target in batch:
            got = model.generate(ids[:, :n], max_new_tokens=len(target) + 2, do_sample=False)[0, n:].tolist()
            if got[:len(target)] != target:
                return False
    return True
