"""Crash consistency, every stage: kill -9 at the moments around each write and at seeded random moments; after every
kill the previous output is there byte for byte, or the new one whole, never a mix; nothing half-written is read as
complete; the next run cleans the leftovers and ends where an unkilled run ends.

Each stage runs as a subprocess. `core.atomic.point` numbers the write points of a run (WORKBENCH_KILL_TRACE) and
kills the process at the Nth (WORKBENCH_KILL_AT). By default three points are tried (the last two commit points and
one halfway through) plus a seeded random moment, and SIGTERM at a point (Ctrl-C at a random moment for
extract); with CRASH_SPREAD=N every commit point, a swap point and N points spread over the run;
CRASH_KILL_POINTS=all tries every point, with Ctrl-C and SIGTERM at each. Each test prints how many kill points it
tried (`pytest -s`).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from core.atomic import settle
from core.config import read_overlay
import forkrun

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
NAME = "serpent"
TOLERANCE = 1e-6  # max |weight difference| between a killed-and-resumed adapter and an unkilled one (measured: 0)
SPREAD = int(os.environ.get("CRASH_SPREAD", "0"))  # evenly spread points tried besides the commit points


def run(argv: list[str], *, kill_at: int | None = None, trace: Path | None = None, kill_after: float | None = None,
        signal_=signal.SIGKILL) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("WORKBENCH_KILL_AT", None)
    if kill_at:
        env["WORKBENCH_KILL_AT"] = str(kill_at)
        env["WORKBENCH_KILL_SIGNAL"] = signal_.name
    if trace:
        env["WORKBENCH_KILL_TRACE"] = str(trace)
    return forkrun.run(argv, env=env, cwd=REPO, kill_after=kill_after, signal_=signal_)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def digest(folder: Path, root: Path | None = None) -> dict[str, str]:
    """Every output file under `folder` (bookkeeping, the hidden entries, left out) -> sha256 (of its bytes with the
    workspace `root` written as <root>)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            data = p.read_bytes()
            out[str(rel)] = hashlib.sha256(data.replace(str(root).encode(), b"<root>") if root else data).hexdigest()
    return out


def leftovers(*roots: Path) -> list[str]:
    """Hidden entries left in the roots; the locks beside the output folders are not leftovers."""
    return [str(p) for r in roots if r.is_dir() for p in r.iterdir()
            if p.name.startswith(".") and not p.name.endswith(".lock")]


def kill_points(trace: Path, spread: int) -> list[int]:
    """The points to try. By default the last two commit points (the journal written, the swap committed) and one
    halfway through the run; with `spread`, also a swap point and `spread` points spread over the run; every one with
    CRASH_KILL_POINTS=all."""
    labels = trace.read_text().splitlines()
    if os.environ.get("CRASH_KILL_POINTS") == "all":
        return list(range(1, len(labels) + 1))
    commit = [i + 1 for i, x in enumerate(labels) if x.endswith(("journal written", "committed"))][-2:]
    moves = [i + 1 for i, x in enumerate(labels) if x.endswith("moved in")]
    step = max(len(labels) // (max(spread, 1) + 1), 1)
    spread_points = list(range(step, len(labels) + 1, step))
    if not spread:
        return sorted(set(commit + spread_points[:1]))
    return sorted(set(commit + moves[len(moves) // 2:][:1] + spread_points[:spread]))


def overlay(cfg: dict, where: Path, **paths: Path) -> list[str]:
    """`--overlay FILE` for the base config with the four roots set (python -m export takes no KEY=VALUE)."""
    c = {**cfg, "paths": {**cfg["paths"], **{k: str(v) for k, v in paths.items()}}}
    where.mkdir(parents=True, exist_ok=True)
    (where / "overlay.yaml").write_text(yaml.safe_dump(c))
    return ["--overlay", str(where / "overlay.yaml")]


@pytest.fixture(scope="module")
def ws(tmp_path_factory, sample_store, tiny_base):
    """The outputs every stage ends with when never killed (golden/), and the previous ones a killed run must leave
    intact (previous/: another store's datasets, a 2-step adapter, its report and export), made once."""
    from sample.store import build_sample_store

    root = tmp_path_factory.mktemp("crash")
    other = build_sample_store(root / "other.db", seed=3, sessions_per_language=2)
    cfg = read_overlay(REPO / "configs" / "demo.yaml")  # with the tiny.yaml it extends
    cfg["extract"].update(tokenizer=None, test_fraction=0.4, window_tokens=1800)  # estimated: extraction is quicker
    cfg["model"]["model_name_or_path"] = str(tiny_base)
    cfg["sft"].update(max_steps=3, save_steps=1, save_total_limit=2, logging_steps=1, max_length=1536,
                      per_device_train_batch_size=1, disable_tqdm=True)
    cfg["eval"].update(max_turns=2, max_new_tokens=8)
    g, p = root / "golden", root / "previous"
    golden = overlay(cfg, g, **{k: g / k for k in KINDS})
    ok(run(["extract", "--db", str(sample_store), *golden, "--quiet"]))
    ok(run(["train", NAME, *golden]))
    ok(run(["eval", NAME, *golden]))
    ok(run(["export", NAME, *golden, "--force"]))
    ok(run(["extract", "--db", str(other), *overlay(cfg, p / "x", data=p / "data"), "--quiet"]))
    previous = overlay(cfg, p, data=g / "data", **{k: p / k for k in ("outputs", "reports", "exports")})
    ok(run(["train", NAME, *previous, "max_steps=2"]))
    shutil.rmtree(p / "outputs" / NAME / "checkpoints")  # a killed run resumes its own checkpoints, or none
    ok(run(["eval", NAME, *previous]))
    ok(run(["export", NAME, *previous, "--force"]))
    return {"root": root, "cfg": cfg, "store": sample_store, "golden": g, "previous": p}


KINDS = ("data", "outputs", "reports", "exports")


def workspace(ws, tmp_path: Path, previous_kind: str) -> tuple[Path, list[str]]:
    """A fresh root holding a copy of the previous output of one kind, and the golden inputs the stage reads."""
    reads = {"data": (), "outputs": ("data",), "reports": ("data", "outputs"), "exports": ("outputs", "reports")}
    shutil.copytree(ws["previous"] / previous_kind, tmp_path / previous_kind)
    for kind in reads[previous_kind]:
        shutil.copytree(ws["golden"] / kind, tmp_path / kind)
    return tmp_path, overlay(ws["cfg"], tmp_path, **{k: tmp_path / k for k in KINDS})


def portable(x, root: Path):
    """`x` with this workspace's root path written as <root>, so two workspaces compare."""
    return json.loads(json.dumps(x).replace(str(root), "<root>"))


def normalised_json(path: Path, drop: tuple[str, ...]) -> dict:
    d = json.loads(path.read_text())
    return {k: v for k, v in d.items() if k not in drop}


STOPS = {"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM}
# how a stage stops on each signal: Ctrl-C and SIGTERM with one line and their exit code, SIGKILL by the signal
ENDINGS = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


def stopped(r: subprocess.CompletedProcess, stage: str, sig: int, what) -> None:
    if sig not in ENDINGS:
        assert r.returncode == -signal.SIGKILL, (what, r.stderr[-2000:])
        return
    how, code = ENDINGS[sig]
    assert r.returncode == code, (what, r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, (what, r.stderr[-2000:])
    assert r.stderr.strip().splitlines()[-1].startswith(f"{stage}: {how}; "), (what, r.stderr[-2000:])


def try_kills(ws, tmp_path, stage: str, argv_of, rerun_of, snapshot, check_read, previous_kind: str):
    """Kill `stage` at its chosen write points and at a random moment, Ctrl-C it at another and SIGTERM it at a write
    point (CRASH_KILL_POINTS=all: Ctrl-C and SIGTERM at every point too); after each, the outputs
    must be the previous ones or the new ones (after settling), what the next stage reads must be whole, and the rerun
    must end as an unkilled run. Returns what the tries left: how many previous, new, or not killed."""
    probe, args = workspace(ws, tmp_path / "probe", previous_kind)
    before = snapshot(probe)
    trace = tmp_path / "trace"
    t0 = time.monotonic()
    ok(run(argv_of(args), trace=trace))
    seconds = time.monotonic() - t0
    after = snapshot(probe)
    assert before != after
    points = kill_points(trace, SPREAD)
    rng = random.Random(12)
    every = os.environ.get("CRASH_KILL_POINTS") == "all"
    random_kill, ctrl_c = rng.uniform(0.3, 0.95), rng.uniform(0.3, 0.9)
    trials = ([("point", k) for k in points] + [("random", random_kill * seconds)]
              # Ctrl-C goes the way SIGTERM goes (core.entry): at a random moment of one stage by default
              + ([("ctrl-c random", max(1.5, ctrl_c * seconds))] if stage == "extract" or every or SPREAD else [])
              + [("sigterm point", points[len(points) // 2])]
              + ([("ctrl-c point", k) for k in points] + [("sigterm point", k) for k in points] if every else []))
    found = {"previous": 0, "new": 0, "new after settling": 0, "not killed": 0}
    for i, (kind, at) in enumerate(trials):
        root, args = workspace(ws, tmp_path / f"kill-{i}", previous_kind)
        sig = STOPS.get(kind.split()[0], signal.SIGKILL)
        r = run(argv_of(args), kill_at=at if kind.endswith("point") else None,
                kill_after=at if kind.endswith("random") else None, signal_=sig)
        if r.returncode == 0:
            found["not killed"] += 1  # the random moment came after the end
        else:
            stopped(r, stage, sig, (kind, at))
        pending = any(p.name.startswith(".commit-") for k in KINDS if (root / k).is_dir()
                      for d in (root / k, *(root / k).iterdir()) if d.is_dir() for p in d.iterdir())
        now = snapshot(root)  # snapshot settles first, as every reader does
        state = "previous" if now == before else ("new after settling" if pending else "new") if now == after else None
        assert state, f"{stage}: a mix after {kind} {at}"
        found[state] += 1
        check_read(root)
        ok(run(rerun_of(args)))
        assert snapshot(root) == after, (kind, at)
        assert not leftovers(*[root / k for k in ("data", "outputs", "reports", "exports")],
                             root / "outputs" / NAME, root / "outputs" / NAME / "checkpoints", root / "reports" / NAME,
                             root / "exports" / NAME)
    print(f"\n{stage}: {len(trace.read_text().splitlines())} write points in a run of {seconds:.1f} s; {len(trials)} "
          f"tries (kill -9 at {len(points)} of the points and 1 random moment, Ctrl-C at "
          f"{sum(k.startswith('ctrl-c') for k, _ in trials)} moment(s), SIGTERM at "
          f"{'every point' if every else '1 point'}{', Ctrl-C at every point' if every else ''}): {found}")
    return found


# --- extract ----------------------------------------------------------------------------------------------------------

def data_snapshot(root: Path) -> dict:
    settle(root / "data")
    files = digest(root / "data", root)
    files.pop("manifest.json", None)
    m = normalised_json(root / "data" / "manifest.json", ("extracted_at", "seconds", "units"))
    return portable({"files": files, "manifest": m}, root)


def data_readable(root: Path) -> None:
    """Train and eval open each dataset the manifest lists, and its files carry the manifest's fingerprint."""
    from core.data import open_dataset

    m = json.loads((root / "data" / "manifest.json").read_text())
    for name, entry in m["specialists"].items():
        open_dataset(name, root / "data" / name)
        tags = {p.name.split("-")[1] for p in (root / "data" / name / "data").glob("*.parquet")}
        assert tags == {entry["fingerprint"][:8]}, name


def test_extract_survives_a_kill_at_any_moment(ws, tmp_path):
    argv = lambda args: ["extract", "--db", str(ws["store"]), *args, "--quiet"]  # noqa: E731
    found = try_kills(ws, tmp_path, "extract", argv, argv, data_snapshot, data_readable, "data")
    assert found["previous"] and found["new"] + found["new after settling"] + found["not killed"]


# --- train ------------------------------------------------------------------------------------------------------------

SUMMARY_VOLATILE = ("wall_seconds", "tokens_per_second", "tokens_this_run", "steps_this_run", "resumed_from", "run_id",
                    "train_loss")


def adapter_snapshot(root: Path) -> dict:
    from safetensors.torch import load_file

    out = root / "outputs" / NAME
    settle(out)
    weights = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    return {"weights": weights, "summary": portable(normalised_json(out / "training_summary.json", SUMMARY_VOLATILE),
                                                     root)}


DIFFERENCES: list[float] = []  # max |weight difference| of every adapter that matched the unkilled one


def same_adapter(a: dict, b: dict) -> bool:
    if a["summary"] != b["summary"] or a["weights"].keys() != b["weights"].keys():
        return False
    diff = max((a["weights"][k] - b["weights"][k]).abs().max().item() for k in a["weights"])
    if diff <= TOLERANCE:
        DIFFERENCES.append(diff)
    return diff <= TOLERANCE


class Adapter(dict):
    """An adapter snapshot that compares its weights within TOLERANCE."""

    def __eq__(self, other):
        return same_adapter(self, other)

    def __ne__(self, other):
        return not same_adapter(self, other)


def checkpoints_whole(root: Path) -> None:
    """Every checkpoint-N folder a kill left is complete: resume never meets a half-written one."""
    from train.checkpoints import checkpoints, problems

    for p in checkpoints(root / "outputs" / NAME / "checkpoints"):
        assert not problems(p), (p.name, problems(p))


def test_train_survives_a_kill_at_any_moment_and_resume_reaches_the_unkilled_adapter(ws, tmp_path):
    argv = lambda args: ["train", NAME, *args]  # noqa: E731
    rerun = lambda args: ["train", NAME, *args, "--resume"]  # noqa: E731
    found = try_kills(ws, tmp_path, "train", argv, rerun, lambda r: Adapter(adapter_snapshot(r)), checkpoints_whole,
                      "outputs")
    assert found["previous"] and found["new"] + found["new after settling"] + found["not killed"]
    print(f"train: resumed adapters against the unkilled one: max |weight difference| {max(DIFFERENCES)} "
          f"(tolerance {TOLERANCE})")


# --- eval -------------------------------------------------------------------------------------------------------------

def report_snapshot(root: Path) -> dict:
    out = root / "reports" / NAME
    settle(out)
    return portable({"eval.json": normalised_json(out / "eval.json", ("evaluated_at",)),
                     "eval.md": [x for x in (out / "eval.md").read_text().splitlines() if "evaluated" not in x],
                     "metrics.png": hashlib.sha256((out / "metrics.png").read_bytes()).hexdigest()}, root)


def test_eval_survives_a_kill_at_any_moment(ws, tmp_path):
    argv = lambda args: ["eval", NAME, *args]  # noqa: E731
    found = try_kills(ws, tmp_path, "eval", argv, argv, report_snapshot, lambda r: None, "reports")
    assert found["previous"] and found["new"] + found["new after settling"] + found["not killed"]


# --- export -----------------------------------------------------------------------------------------------------------

def export_snapshot(root: Path) -> dict:
    out = root / "exports" / NAME
    settle(out)
    m = normalised_json(out / "manifest.json", ("exported_at", "files"))
    files = digest(out, root)
    files.pop("manifest.json")
    return portable({"manifest": m, "files": files}, root)


def export_whole(root: Path) -> None:
    """Every file the export's manifest lists is there with its checksum."""
    out = root / "exports" / NAME
    m = json.loads((out / "manifest.json").read_text())
    for rel, sha in m["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == sha, rel


def test_export_survives_a_kill_at_any_moment(ws, tmp_path):
    argv = lambda args: ["export", NAME, *args, "--force"]  # noqa: E731
    found = try_kills(ws, tmp_path, "export", argv, argv, export_snapshot, export_whole, "exports")
    assert found["previous"] and found["new"] + found["new after settling"] + found["not killed"]


# --- the data tools' writers: extract report, extract export-jsonl ---------------------------------------------------

def folder_snapshot(folder: Path, root: Path) -> dict:
    """The files under `folder`, its workspace's `root` written as <root> (report.md names the datasets' folder)."""
    settle(folder)
    return digest(folder, root)


def try_writer(ws, tmp_path, verb: str, out_of) -> dict:
    """`python -m extract VERB` over the golden datasets, writing where `out_of(root)` says, over the output it made
    from the previous datasets: killed at its write points, Ctrl-C'd and SIGTERM'd at one, the output is the previous
    one or the new one, and the rerun ends with the new one."""
    def prepared(root: Path) -> list[str]:
        shutil.copytree(ws["golden"] / "data", root / "data")
        ok(run(["extract", verb, *argv_tail(ws["previous"] / "data", out_of(root))]))
        return argv_tail(root / "data", out_of(root))

    def argv_tail(data: Path, out: Path) -> list[str]:
        return [*([NAME] if verb == "export-jsonl" else []), "--data", str(data), "--out", str(out)]

    probe = tmp_path / "probe"
    tail = prepared(probe)
    before = folder_snapshot(out_of(probe), probe)
    trace = tmp_path / "trace"
    ok(run(["extract", verb, *tail], trace=trace))
    after = folder_snapshot(out_of(probe), probe)
    assert before and after and before != after
    points = kill_points(trace, SPREAD)
    trials = [(signal.SIGKILL, k) for k in points] + [(s, points[len(points) // 2]) for s in ENDINGS]
    found = {"previous": 0, "new": 0}
    for i, (sig, at) in enumerate(trials):
        root = tmp_path / f"kill-{i}"
        tail = prepared(root)
        r = run(["extract", verb, *tail], kill_at=at, signal_=sig)
        stopped(r, "extract", sig, (verb, sig, at))
        now = folder_snapshot(out_of(root), root)
        assert now in (before, after), f"extract {verb}: a mix after {signal.Signals(sig).name} at point {at}"
        found["previous" if now == before else "new"] += 1
        ok(run(["extract", verb, *tail]))
        assert folder_snapshot(out_of(root), root) == after
        assert not leftovers(out_of(root))
    print(f"\nextract {verb}: {len(trace.read_text().splitlines())} write points; {len(trials)} tries: {found}")
    return found


def test_extract_report_is_swapped_in_whole_whatever_stops_it(ws, tmp_path):
    found = try_writer(ws, tmp_path, "report", lambda root: root / "reports" / "data")
    assert found["previous"] and found["new"]


def test_export_jsonl_is_swapped_in_whole_whatever_stops_it(ws, tmp_path):
    found = try_writer(ws, tmp_path, "export-jsonl", lambda root: root / "data" / "openai")
    assert found["previous"] and found["new"]
