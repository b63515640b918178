"""`python -m agent`: mini-swe-agent runs against served models (see docs/agent-runs.md).

    python -m agent eval serpent                 # base vs serpent on the Python suite -> reports/serpent/agent.md
    python -m agent eval --all                   # every specialist with a model to serve
    python -m agent generate serpent --runs 4 --workers 2 --temperature 0.7   # -> runs/serpent/
    python -m agent generate --endpoint URL --model NAME --tasks python --out runs/mine
    python -m agent check [--tasks python]       # every bundled task: unfixed fails, reference fix passes
    python -m agent eval serpent --tasks replay  # base vs serpent on serpent's held-out opencode sessions, replayed
    python -m agent replay-check serpent         # which held-out sessions can be replayed, and why not the others
    python -m agent capture                      # what opencode sends per build-<lang> agent -> extract/toolsets/
    python -m agent swebench tasks.jsonl --endpoint URL --model NAME --out runs/swe   # needs Docker

Model servers: `agent.endpoint` (or --endpoint) names any OpenAI-compatible server, where the base is
`agent.base_model` and a specialist is its own name (as `make serve` names them). Without one, this project's own
server (`python -m serve`, what `make serve` runs) is started for the run on a free port, serving `base` and the
specialist's exports/<name>/adapter.gguf (`make export NAME=...`).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

from core import config as cfglib
from core.config import ConfigError

from . import replay
from .evaluate import AgentError
from .tasks import BUNDLED, TaskError, load_suite


def limits_from(cfg: dict, temperature: float | None = None):
    from .runner import Limits

    a = cfg["agent"]
    return Limits(step_limit=int(a["step_limit"]), max_tokens=int(a["max_tokens"]),
                  command_timeout=int(a["command_timeout"]), task_timeout=int(a["task_timeout"]),
                  temperature=float(a["temperature"] if temperature is None else temperature), mode=a["mode"],
                  sandbox=a["sandbox"], format_errors=int(a["format_errors"]))


def not_servable(sp) -> str | None:
    """Why this project's server cannot serve the specialist (what `make serve` would say), or None."""
    from serve.models import not_servable as why

    return why(sp, sp.config["model"]["model_name_or_path"])


@contextlib.contextmanager
def served(names: list[str], overlay, overrides: list[str]):
    """This project's server (`python -m serve`, as `make serve` runs it) on a free 127.0.0.1 port, serving `names`
    under the names `make serve` gives them; yields its OpenAI base URL; stopped when the block ends."""
    from serve.api import serving

    with serving(names, overlay=overlay, overrides=overrides) as server:
        yield server.base_url


@contextlib.contextmanager
def endpoints_for(sp, endpoint: str | None, overlay, overrides: list[str]):
    """{"base", "specialist"} endpoints, and how they are served: the named server, or this project's for this run."""
    from serve.models import BASE

    from .runner import Endpoint

    a = sp.config["agent"]
    url = endpoint or a.get("endpoint")
    if url:
        key = a.get("api_key") or "none"
        yield {"base": Endpoint(url, a["base_model"], key), "specialist": Endpoint(url, sp.name, key)}, url
        return
    why = not_servable(sp)
    if why:
        raise AgentError(f"{sp.name}: nothing to serve: {why}; or set agent.endpoint (ENDPOINT=) to a server that "
                         f"serves it")
    with served([BASE, sp.name], overlay, overrides) as url:
        yield ({"base": Endpoint(url, BASE), "specialist": Endpoint(url, sp.name)},
               f"this project's server (`python -m serve`, as `make serve` runs it), started for this run: `{BASE}` is "
               f"{sp.config['model']['model_name_or_path']}, `{sp.name}` adds {sp.path('exports') / 'adapter.gguf'}")


def check_agent_context(agent: str, cfg: dict) -> None:
    """One line, before anything is served, when this project's server would give the CLI too small a context."""
    if agent not in ("opencode", "codex"):
        return
    from export.agents import served_limits

    from . import codex, opencode

    (opencode if agent == "opencode" else codex).check_context(served_limits(cfg))


def cmd_eval(a, overrides: list[str]) -> int:
    from . import evaluate

    names = cfglib.select_names(a.names, a.all, lambda sp: not_servable(sp) is None
                                or bool(sp.config["agent"].get("endpoint") or a.endpoint),
                                "no specialist has an export to serve (make export-all) and no agent.endpoint is set",
                                overlay=a.overlay, overrides=overrides)
    for name in names:
        sp = cfglib.specialist(name, overlay=a.overlay, overrides=overrides)
        ag = sp.config["agent"]
        task_set = a.tasks or ag.get("tasks") or sp.language
        replayed = None
        tasks = load_suite(task_set) if task_set != replay.NAME else None
        if not (a.endpoint or ag.get("endpoint")):
            check_agent_context(a.agent, sp.config)  # before anything is served
        with endpoints_for(sp, a.endpoint, a.overlay, overrides) as (eps, serving):
            if tasks is None:  # the held-out sessions, replayed (agent/replay.py), once a model is known to serve
                tasks, replayed = replay_survey(sp, quiet=a.quiet)
            from export.agents import served_limits

            r = evaluate.evaluate(sp, tasks, task_set, eps, limits_from(sp.config), seed=int(ag["sampling_seed"]),
                                  samples=int(ag["bootstrap_samples"]), serving=serving, progress=not a.quiet,
                                  replay=replayed, agent=a.agent,
                                  # the served context is known only for this project's server, started here
                                  model_limits=None if (a.endpoint or ag.get("endpoint")) else served_limits(sp.config))
        s, p = r["sides"], r["paired"]
        print(f"agent eval {name}: base {s['base']['resolved']}/{r['tasks']} -> {name} "
              f"{s['specialist']['resolved']}/{r['tasks']} resolved (A/A {s['base_aa']['resolved']}/{r['tasks']}); "
              f"McNemar p {p['mcnemar_p']:.3g}; {p['verdict']}; {r['skipped']['count']} skipped"
              + (f"; replay: {replay.summary_line(replayed)}" if replayed else "")
              + f" -> {sp.path('reports')}/agent.md", flush=True)
    return 0


def replay_survey(sp, *, quiet: bool, on_session=None):
    """data/<name>'s held-out opencode sessions as tasks, each one proven (start fails, end passes) in the sandbox."""
    ag = sp.config["agent"]
    extra = [Path(ag["opencode_data"]).expanduser()] if ag.get("opencode_data") else []
    if not quiet:
        print(f"replay {sp.name}: checking the held-out sessions (each judged on its start and end snapshots)",
              file=sys.stderr, flush=True)
    tasks, summary = replay.survey(sp.path("data"), sp.name, agents=tuple(sp.config["extract"]["agents"]),
                                   data_dirs=extra, sandbox=ag["sandbox"], on_session=on_session)
    if not tasks:
        raise AgentError(replay.none_replayable(sp.name, summary))
    return tasks, summary


def cmd_replay_check(a, overrides: list[str]) -> int:
    """Which held-out sessions can be replayed, and why the others cannot; no model runs."""
    if len(a.names) != 1:
        raise AgentError("agent replay-check takes one NAME (a specialist with extracted data)")
    sp = cfglib.specialist(a.names[0], overlay=a.overlay, overrides=overrides)

    def show(e):
        print(f"{e['source']} {e['session']}: " + (f"replayable, judged by: {e['test']}" if e["replayable"]
                                                   else f"{e['reason']} ({e['detail']})"), flush=True)

    tasks, summary = replay_survey(sp, quiet=a.quiet, on_session=None if a.quiet else show)
    print(f"replay-check {sp.name}: {replay.summary_line(summary)}", flush=True)
    return 0


def cmd_generate(a, overrides: list[str]) -> int:
    from serve.models import BASE

    from .generate import generate
    from .runner import Endpoint

    base = a.name == BASE  # NAME=base: the base alone, served as `make serve` serves it
    cfg = cfglib.load(None if base else a.name, overlay=a.overlay, overrides=overrides)
    ag = cfg["agent"]
    url = a.endpoint or ag.get("endpoint")
    if a.name is None and not (url and a.model and a.tasks):
        raise AgentError("agent generate: name a specialist, or give --endpoint, --model and --tasks")
    task_set = a.tasks or ag.get("tasks") or cfg.get("language")
    if not task_set:
        raise AgentError(f"agent generate {a.name}: the base has no language; name a task set (TASKS=python, rust, "
                         f"typescript, ruby, swift or a folder)")
    tasks = load_suite(task_set)
    out = Path(a.out or Path("runs") / (a.name or a.model.replace("/", "_")))
    limits = limits_from(cfg, a.temperature)
    seed = int(ag["sampling_seed"])
    if not url:
        check_agent_context(a.agent, cfg)  # before anything is served
    with contextlib.ExitStack() as stack:
        if url:
            model = a.model or (ag["base_model"] if base else a.name)
            endpoint = Endpoint(url, model, ag.get("api_key") or "none")
        else:  # this project's server for this run: the specialist's adapter.gguf on the base, or the base alone
            if not base:
                why = not_servable(cfglib.specialist(a.name, overlay=a.overlay, overrides=overrides))
                if why:
                    raise AgentError(f"{a.name}: nothing to serve: {why}; or set agent.endpoint (ENDPOINT=) to a "
                                     f"server")
            endpoint = Endpoint(stack.enter_context(served([a.name], a.overlay, overrides)), a.name)
        from export.agents import served_limits

        s = generate(tasks, endpoint, limits, out=out, runs=a.runs, workers=a.workers, seed=seed, task_set=task_set,
                     progress=not a.quiet, agent=a.agent, prompt=str(cfg.get("system_prompt") or ""),
                     model_limits=None if url else served_limits(cfg))
    if a.agent == "opencode":
        from .clients import opencode_db
        from .opencode import store_home

        read_back = f"make extract DB={opencode_db(store_home(out))} RESOLVED_ONLY=1"
    elif a.agent == "codex":
        from .codex import store_home as codex_home

        read_back = f"make extract CODEX_DIR={codex_home(out) / '.codex' / 'sessions'}"
    else:
        read_back = f"make extract SWE_DIR={out} RESOLVED_ONLY=1"
    print(f"generate: {s['attempts']} attempts on {s['tasks']} tasks ({s['already_finished']} already finished, "
          f"{s['ran_now']} run now), {s['resolved']} resolved, {s['skipped']['count']} tasks skipped -> {out} "
          f"({read_back})", flush=True)
    return 0


def cmd_check(a, overrides: list[str]) -> int:
    from .evaluate import split_runnable
    from .runner import prove

    sets = [a.tasks] if a.tasks else sorted(p.name for p in BUNDLED.iterdir() if p.is_dir())
    bad = 0
    for task_set in sets:
        tasks = load_suite(task_set)
        runnable, skipped = split_runnable(tasks)
        failed = 0
        with tempfile.TemporaryDirectory(prefix="agent-check-") as tmp:
            for t in runnable:
                r = prove(t, Path(tmp) / t.id, sandbox_setting=a.sandbox)
                ok = r["fixed_passes"] and not r["unfixed_passes"]
                failed += not ok
                if not ok:
                    print(f"{task_set}/{t.id}: unfixed {'passes' if r['unfixed_passes'] else 'fails'}, "
                          f"fixed {'passes' if r['fixed_passes'] else 'fails'}", flush=True)
        miss = ", ".join(skipped["missing_tools"]) or "-"
        print(f"check {task_set}: {len(runnable) - failed} tasks proven, {failed} not, {skipped['count']} skipped "
              f"(missing: {miss})", flush=True)
        bad += failed
    return 1 if bad else 0


def cmd_capture(a, overrides: list[str]) -> int:
    """What the installed opencode sends for each build-<lang> agent -> extract/toolsets/opencode-<version>.json."""
    from export.agents import served_limits
    from extract.toolsets import FOLDER

    from .opencode import capture

    cfg = cfglib.load(overlay=a.overlay, overrides=overrides)
    sps = cfglib.specialists(overlay=a.overlay, overrides=overrides)
    dest = capture(sps, cfg["model"]["model_name_or_path"], Path(a.out or FOLDER), limits=served_limits(cfg))
    print(f"capture: what opencode sends for {len(sps)} agents -> {dest}", flush=True)
    return 0


def cmd_swebench(a, overrides: list[str]) -> int:
    from .swebench import run_swebench

    return run_swebench(a.file, endpoint=a.endpoint, model=a.model, out=Path(a.out), workers=a.workers,
                        extra=overrides)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agent", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval", help="base vs specialist on a task set -> reports/<name>/agent.md")
    e.add_argument("names", nargs="*", metavar="NAME|KEY=VALUE")
    e.add_argument("--all", action="store_true")
    g = sub.add_parser("generate", help="new judged trajectories -> runs/<name>/")
    g.add_argument("names", nargs="*", metavar="NAME|KEY=VALUE")
    g.add_argument("--model", help="the model name at --endpoint (default: the specialist's name)")
    g.add_argument("--out", help="output folder (default runs/<name>)")
    g.add_argument("--runs", type=int, default=1, help="attempts per task")
    g.add_argument("--workers", type=int, default=1, help="attempts at once")
    g.add_argument("--temperature", type=float, default=None, help="default agent.temperature")
    c = sub.add_parser("check", help="prove the bundled tasks: unfixed fails, the reference fix passes")
    c.add_argument("--sandbox", default="auto")
    r = sub.add_parser("replay-check", help="which held-out opencode sessions can be replayed (TASKS=replay), why "
                                            "the others cannot; no model runs")
    r.add_argument("names", nargs="*", metavar="NAME|KEY=VALUE")
    cap = sub.add_parser("capture", help="what the installed opencode sends for each build-<lang> agent (system "
                                           "prompt, tool schemas) -> extract/toolsets/opencode-<version>.json")
    cap.add_argument("names", nargs="*", metavar="KEY=VALUE")
    cap.add_argument("--out", default=None, help="folder (default extract/toolsets/)")
    s = sub.add_parser("swebench", help="a SWE-bench-format task file through mini-swe-agent's runner (Docker)")
    s.add_argument("file")
    s.add_argument("--model", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("extra", nargs="*", metavar="KEY=VALUE", help="mini-swe-agent config overrides")
    for sp in (e, g, c, s, r, cap):
        sp.add_argument("--overlay", default=None, help="config overlay, e.g. configs/demo.yaml")
        sp.add_argument("--tasks", default=None, help="a bundled suite (python, rust, typescript, ruby, swift), a "
                        "folder, or replay (eval: the specialist's held-out opencode sessions)")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")
    for sp in (e, g):
        sp.add_argument("--agent", default="mini-swe-agent", choices=("mini-swe-agent", "opencode", "codex"),
                        help="the agent: mini-swe-agent (a library), or the real opencode or Codex CLI (make agents-setup; Codex "
                             "also needs the bridge extra, make serve-bridge installs it)")
    for sp in (e, g, s):
        sp.add_argument("--endpoint", default=None, help="an OpenAI-compatible base URL (default agent.endpoint)")
    a, rest = p.parse_known_args(argv)  # KEY=VALUE after an option (make's `--overlay X $(ARGS)`) lands in rest
    late = ([x for x in rest if "=" in x and not x.startswith("-")]
            if a.cmd in ("eval", "generate", "replay-check", "capture") else [])
    if len(late) < len(rest):
        p.error(f"unrecognized arguments: {' '.join(x for x in rest if x not in late)}")
    items = (getattr(a, "names", []) or []) + late
    a.names = [x for x in items if "=" not in x]
    overrides = list(a.extra) if a.cmd == "swebench" else [x for x in items if "=" in x]
    if a.cmd == "generate":
        if len(a.names) > 1:
            p.error("generate takes one NAME")
        a.name = a.names[0] if a.names else None
    try:
        return {"eval": cmd_eval, "generate": cmd_generate, "check": cmd_check, "swebench": cmd_swebench,
                "replay-check": cmd_replay_check, "capture": cmd_capture}[a.cmd](
            a, overrides)
    except (ConfigError, AgentError, TaskError, RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from core import entry

    sys.exit(entry.run("agent", main, interrupted="finished tasks and their trajectories are kept; make generate "
                                                   "resumes where it stopped"))
