"""SWE-bench-format task files through mini-swe-agent's own SWE-bench runner (each instance in its Docker image).

The runner loads a dataset folder, so the user's file (JSON list or JSONL of instances with `instance_id` and
`problem_statement`, plus the fields the harness needs) is checked and copied to `<out>/.dataset/test.jsonl`.
Judging is SWE-bench's harness (`pip install swebench`), which writes the report.json files that
`make extract SWE_DIR=<out> SWE_REPORTS=logs/run_evaluation/<run id> RESOLVED_ONLY=1` joins with the trajectories.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .evaluate import AgentError

REQUIRED = ("instance_id", "problem_statement")


def read_instances(path: Path) -> list[dict[str, Any]]:
    """The instances of a SWE-bench-format file (a JSON list, or one JSON object a line); one-line errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise AgentError(f"{path}: cannot read the task file: {e.strerror}") from None
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
    except ValueError:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise AgentError(f"{path}:{n}: not a JSON object (expected JSON lines or a JSON list)") from None
    seen = set()
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise AgentError(f"{path}: instance {n} is not a JSON object")
        for key in REQUIRED:
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise AgentError(f"{path}: instance {n} has no `{key}`")
        if row["instance_id"] in seen:
            raise AgentError(f"{path}: instance id {row['instance_id']} appears twice")
        seen.add(row["instance_id"])
    if not rows:
        raise AgentError(f"{path}: no instances")
    return rows


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def command(dataset: Path, out: Path, *, endpoint: str, model: str, workers: int, extra: list[str]) -> list[str]:
    """mini-swe-agent's SWE-bench runner on the dataset folder, with the model at the OpenAI-compatible endpoint."""
    return [sys.executable, "-m", "minisweagent.run.benchmarks.swebench", "--subset", str(dataset), "--split", "test",
            "-o", str(out), "--model", f"openai/{model}", "-w", str(workers), "-c", "swebench.yaml",
            "-c", f"model.model_kwargs.api_base={endpoint}", "-c", "model.model_kwargs.api_key=none",
            "-c", "model.cost_tracking=ignore_errors", *[x for kv in extra for x in ("-c", kv)]]


def run_swebench(file: str, *, endpoint: str | None, model: str, out: Path, workers: int, extra: list[str]) -> int:
    if not endpoint:
        raise AgentError("agent swebench: --endpoint (an OpenAI-compatible base URL) is required")
    rows = read_instances(Path(file))
    if not docker_available():
        raise AgentError("agent swebench: Docker is not available (`docker info` fails); SWE-bench instances run "
                         "in their own Docker images")
    dataset = out / ".dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    (dataset / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from .runner import mini

    mini()  # the same contained environment variables for the runner's process
    rc = subprocess.run(command(dataset, out, endpoint=endpoint, model=model, workers=workers, extra=extra)).returncode
    print(f"swebench: {len(rows)} instances -> {out} (trajectories, preds.json). Judge them with SWE-bench's harness: "
          f"python -m swebench.harness.run_evaluation --dataset_name {dataset} --split test --predictions_path "
          f"{out}/preds.json --run_id agent", flush=True)
    return rc
