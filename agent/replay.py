"""Replay: the user's own held-out opencode sessions as agent tasks (docs/agent-runs.md, Replaying your own sessions).

opencode snapshots the project at every step (sst/opencode, packages/opencode/src/snapshot/index.ts): a git dir of its
own, used with `--git-dir <store> --work-tree <worktree>`, into which it `add`s the worktree and runs `write-tree`; the
tree hash goes into the step's `step-start` part (`snapshot`) and, at its end, into `step-finish`. The store is under
opencode's data folder ($XDG_DATA_HOME/opencode, else ~/.local/share/opencode):
- `snapshot/<project id>/<sha1 of the worktree path>/` (opencode 1.x: one store per worktree of a project),
- `snapshot/<project id>/` (older builds: one per project),
where the project id is the repository's root-commit hash (`global` outside git, where snapshots are off). The
database gives it as `session.project_id` (the worktree as `project.worktree`); the JSON tree as the folder of
`storage/session/<project id>/<session>.json` (the worktree in `storage/project/<project id>.json`); an export as
`info.projectID`. A store may borrow objects from the project's own `.git` (`objects/info/alternates`), and opencode
prunes unreachable objects after 7 days (`git gc --prune=7.days`): a tree can be gone from a store that exists.

A held-out session (data/<name>'s test split) is replayable when its first kept step recorded a snapshot that its
store still holds, and it ran a test command (extract's shell tools, recognised here) whose last run exited 0. The
task: the first snapshot, materialised read-only from the store (read-tree into a private index + checkout-index); the
instruction: the dataset's first user message (redacted by extraction, as the model saw it); the judge: that test
command, in the same folder the session ran it. The session's end snapshot is the task's reference fix: before any
model runs, the judge must fail on the start and pass on the end, else the session is counted out and why.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.classify import command_line, shell_segments
from extract.opencode import HIDDEN_AGENTS, agent_matches, open_store
from extract.opencode_json import export_files, json_documents, storage_roots
from extract.outcome import SHELL_TOOLS
from extract.redact import redact_text

from .tasks import TOOLCHAINS, Task

NAME = "replay"  # TASKS=replay
OPENCODE_SOURCES = ("opencode", "opencode-json", "opencode-export")

# Why a held-out session is not a task, in the order they are checked.
NOT_OPENCODE = "not an opencode session"
NOT_FOUND = "session no longer in its source"
NO_SNAPSHOT = "no step-start snapshot"
NO_STORE = "no snapshot store for its project"
TREE_MISSING = "snapshot tree missing from the store (gc'd)"
NO_TEST = "no test command that succeeded"
NO_TOOLCHAIN = "toolchain missing"
ALREADY_PASSING = "already passing at start"
END_FAILS = "its end snapshot fails the test here"
REASONS = (NOT_OPENCODE, NOT_FOUND, NO_SNAPSHOT, NO_STORE, TREE_MISSING, NO_TEST, NO_TOOLCHAIN, ALREADY_PASSING,
           END_FAILS)

# words that start a shell segment without naming a program to look for on PATH
_BUILTINS = {"cd", "export", "source", ".", "set", "unset", "true", "false", "echo", "printf", "exit", "test", "[",
             ":", "pushd", "popd", "ulimit", "umask", "alias", "if", "fi", "else", "then", "do", "done", "for",
             "while", "{", "}", "!"}
_RUNNERS = {"uv", "poetry", "pipenv", "pdm", "hatch", "rye", "bundle", "npx", "bunx", "pnpx", "pipx"}
_TEST_PROGRAMS = {"pytest", "py.test", "tox", "nox", "rspec", "jest", "vitest", "mocha", "ava", "phpunit", "ctest",
                  "cargo-nextest", "minitest", "testrb"}
_TEST_VERBS = {"test", "tests", "spec", "check", "nextest", "t"}


def is_test_run(command: str) -> bool:
    """Whether a shell command line runs a test suite: pytest, `python -m unittest`, `cargo test`, `npm test`,
    `node --test`, `go test`, `rspec`, `rake test`, `swift test`, `make test`, and those behind uv/poetry/bundle/npx."""
    for words in shell_segments(command):
        while words and words[0].rsplit("/", 1)[-1] in _RUNNERS:  # uv run pytest, bundle exec rspec, npx jest
            words = [w for w in words[1:] if w not in ("run", "exec", "x")]
            while words and words[0].startswith("-"):
                words = words[1:]
        if not words:
            continue
        prog, rest = words[0].rsplit("/", 1)[-1], words[1:]
        args = [w for w in rest if not w.startswith("-")]
        first = args[0] if args else ""
        if prog in _TEST_PROGRAMS:
            return True
        if re.fullmatch(r"python[\d.]*", prog) and "-m" in rest:
            module = rest[rest.index("-m") + 1] if rest.index("-m") + 1 < len(rest) else ""
            if module in ("pytest", "unittest", "tox", "nox", "green", "nose2"):
                return True
        if prog in ("cargo", "go", "swift", "deno", "dotnet", "mix", "zig", "bun", "rails", "dart", "flutter",
                    "gradle", "mvn", "./gradlew") and first in ("test", "nextest"):
            return True
        if prog in ("npm", "pnpm", "yarn") and (first in ("test", "t") or
                                                 (first == "run" and len(args) > 1 and args[1].startswith("test"))):
            return True
        if prog in ("node", "tsx") and "--test" in rest:
            return True
        if prog in ("rake", "make") and first in _TEST_VERBS:
            return True
        if prog == "ruby" and any(re.search(r"(_test|_spec|^test_\w*)\.rb$", a.rsplit("/", 1)[-1]) or a == "-Itest"
                                  for a in rest):
            return True
    return False


def programs(command: str) -> list[str]:
    """The programs a command line needs on PATH: the first word of every segment (not builtins, not paths)."""
    out: list[str] = []
    for words in shell_segments(command, strip="()"):
        if words and words[0] and "/" not in words[0] and "$" not in words[0] and words[0] not in _BUILTINS \
                and words[0] not in out:
            out.append(words[0])
    return out


# -- the raw session, read again from its source ----------------------------------------------------------------

@dataclass
class RawSession:
    """What replay needs that the dataset does not keep: the snapshots, the project, the tool calls' exit codes."""
    id: str
    project_id: str | None  # None: opencode 0.x, which had no project ids
    worktree: str
    directory: str
    data_dirs: list[Path]  # opencode data folders whose snapshot/ may hold the store (beside the source first)
    messages: list[tuple[dict, list[dict]]] = field(default_factory=list)
    v0_root: Path | None = None  # opencode 0.x: project/<slug>/storage (its snapshots lived beside it)


def default_data_dir() -> Path:
    """opencode's data folder: $XDG_DATA_HOME/opencode, else ~/.local/share/opencode."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "opencode"


def _json(path: Path) -> dict | None:
    try:
        v = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def _from_db(db: Path, sid: str) -> RawSession | None:
    with open_store(db) as conn:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(session)")}
        pick = "project_id" if "project_id" in cols else "NULL"
        row = conn.execute(f"SELECT {pick}, directory FROM session WHERE id = ?", (sid,)).fetchone()
        if row is None:
            return None
        pid, directory = row
        worktree = None
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if pid and "project" in tables:
            w = conn.execute("SELECT worktree FROM project WHERE id = ?", (pid,)).fetchone()
            worktree = w[0] if w else None
        messages = []
        for mid, data in conn.execute("SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id",
                                      (sid,)).fetchall():
            parts = [_loads(p) for (p,) in conn.execute("SELECT data FROM part WHERE message_id = ? ORDER BY id",
                                                        (mid,))]
            messages.append((_loads(data) or {}, [p for p in parts if p]))
    return RawSession(sid, pid, worktree or directory or "", directory or "", [db.parent], messages)


def _loads(text) -> dict | None:
    try:
        v = json.loads(text) if text is not None else None
    except (TypeError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def _from_tree(root: Path, sid: str) -> RawSession | None:
    for kind, r in storage_roots(root) if root.is_dir() else []:
        if kind == "tree":
            hits = sorted((r / "session").glob(f"*/{sid}.json"))
            if not hits:
                continue
            info = _json(hits[0]) or {}
            pid = hits[0].parent.name
            project = _json(r / "project" / f"{pid}.json") or {}
            directory = info.get("directory") if isinstance(info.get("directory"), str) else ""
            worktree = project.get("worktree") if isinstance(project.get("worktree"), str) else directory
            messages = []
            for mf in sorted((r / "message" / sid).glob("*.json")):
                parts = [p for p in (_json(pf) for pf in sorted((r / "part" / mf.stem).glob("*.json"))) if p]
                messages.append((_json(mf) or {}, parts))
            return RawSession(sid, pid, worktree, directory, [r.parent], messages)
        info_file = r / "session" / "info" / f"{sid}.json"
        if info_file.is_file():  # opencode 0.x: no project ids; every session a build session
            info = _json(info_file) or {}
            directory = info.get("directory") if isinstance(info.get("directory"), str) else ""
            messages = []
            for mf in sorted((r / "session" / "message" / sid).glob("*.json")):
                files = sorted((r / "session" / "part" / sid / mf.stem).glob("*.json"))
                parts = [p for p in (_json(pf) for pf in files) if p]
                messages.append((_json(mf) or {}, parts))
            return RawSession(sid, None, directory, directory, [], messages, v0_root=r)
    return None


def _from_export(path: Path, sid: str) -> RawSession | None:
    for f in export_files(path) if path.exists() else []:
        try:
            docs = json_documents(f.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for doc in docs:
            info = doc.get("info") if isinstance(doc, dict) else None
            if not isinstance(info, dict) or (info.get("id") or f.stem) != sid or not isinstance(doc.get("messages"),
                                                                                               list):
                continue
            messages = [(m["info"], [p for p in (m.get("parts") or []) if isinstance(p, dict)])
                        for m in doc["messages"] if isinstance(m, dict) and isinstance(m.get("info"), dict)]
            directory = info.get("directory") if isinstance(info.get("directory"), str) else ""
            pid = info.get("projectID") if isinstance(info.get("projectID"), str) else None
            return RawSession(sid, pid, directory, directory, [], messages)
    return None


def find_session(sources: list[tuple[str, Path]], source: str, sid: str) -> RawSession | None:
    """The session in the first source of its kind that holds it (the sources extraction read, from its manifest)."""
    for kind, path in sources:
        if kind != source or not path.exists():
            continue
        reader = {"opencode": _from_db, "opencode-json": _from_tree, "opencode-export": _from_export}[kind]
        try:
            raw = reader(path, sid)
        except Exception:  # noqa: BLE001 - a source that changed or broke since extraction: the next one, else none
            raw = None
        if raw is not None:
            return raw
    return None


# -- what the session did ---------------------------------------------------------------------------------------

@dataclass
class Plan:
    start: str | None  # the tree at the first kept step's start (None: that step recorded none)
    end: str | None  # the last tree the session's kept steps recorded
    test: str | None  # the last test command the session ran
    test_ok: bool
    workdir: str | None
    timeout_s: int | None


def plan(raw: RawSession, agents: tuple[str, ...]) -> Plan:
    """Walk the kept (build) steps in order, as extraction keeps them: first snapshot, last snapshot, last test run."""
    p = Plan(None, None, None, False, None, None)
    first_seen = False
    turn_agent = "build" if raw.v0_root is not None else None
    for data, parts in raw.messages:
        role = data.get("role")
        if role == "user":
            turn_agent = data.get("agent") if isinstance(data.get("agent"), str) and data.get("agent") else turn_agent
            continue
        if role != "assistant":
            continue
        agent = data.get("agent") or data.get("mode") or turn_agent
        if data.get("summary") is True or agent in HIDDEN_AGENTS or not agent_matches(agent, agents):
            continue
        if not first_seen:
            first_seen = True
            starts = [x for x in parts if x.get("type") == "step-start"]
            p.start = starts[0].get("snapshot") if starts and isinstance(starts[0].get("snapshot"), str) else None
        for x in parts:
            if x.get("type") in ("step-start", "step-finish") and isinstance(x.get("snapshot"), str):
                p.end = x["snapshot"]
            if x.get("type") != "tool" or x.get("tool") not in SHELL_TOOLS or not isinstance(x.get("state"), dict):
                continue
            state = x["state"]
            inp = state.get("input") if isinstance(state.get("input"), dict) else {}
            command = command_line(inp.get("command") or inp.get("cmd"))
            if not isinstance(command, str) or not is_test_run(command):
                continue
            meta = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
            p.test, p.workdir = command, inp.get("workdir") if isinstance(inp.get("workdir"), str) else None
            p.test_ok = state.get("status") == "completed" and meta.get("exit") == 0
            t = inp.get("timeout")
            p.timeout_s = int(t / 1000) + 1 if isinstance(t, (int, float)) and t > 0 else None  # opencode: ms
    return p


def judge_command(command: str, worktree: str, directory: str, workdir: str | None) -> str:
    """The session's test command for a copy of its worktree: run from the same folder, the worktree's absolute path
    read as the copy's root."""
    root = worktree.rstrip("/")
    where = workdir or directory or worktree
    rel = os.path.relpath(where, worktree) if root and where and (where + "/").startswith(root + "/") else "."
    prefix = ""
    if root and re.search(re.escape(root) + r"(?=[/\s'\"]|$)", command):  # cd /home/u/proj && ...
        command = re.sub(re.escape(root) + r"(?=[/\s'\"]|$)", '"$REPLAY_ROOT"', command)
        prefix = 'REPLAY_ROOT="$PWD"; '
    return prefix + (f"cd {shlex.quote(rel)} && " if rel != "." else "") + command


# -- the store ----------------------------------------------------------------------------------------------------

def candidate_stores(raw: RawSession, extra_data_dirs: list[Path]) -> list[Path]:
    """Git dirs that may hold the session's snapshots, newest layout first, beside its source first."""
    out: list[Path] = []
    dirs = list(dict.fromkeys([*raw.data_dirs, *extra_data_dirs, default_data_dir()]))
    for d in dirs:
        if raw.project_id:
            base = d / "snapshot" / raw.project_id
            for w in (raw.worktree, raw.directory):
                if w:
                    out.append(base / hashlib.sha1(w.encode()).hexdigest())  # Hash.fast(worktree) in opencode 1.x
            out.append(base)
            if base.is_dir():
                out += sorted(p for p in base.iterdir() if p.is_dir())  # the project's other worktrees
    if raw.v0_root is not None:
        out += [raw.v0_root.parent / "snapshot" / raw.id, raw.v0_root.parent / "snapshot"]
    return [p for p in dict.fromkeys(out) if (p / "objects").is_dir() and (p / "HEAD").exists()]


def _git(store: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-c", "core.autocrlf=false", "-c", "core.longpaths=true", "-c", "core.symlinks=true",
                           "--git-dir", str(store), *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", **(env or {})})


def has_tree(store: Path, tree: str) -> bool:
    return _git(store, "cat-file", "-e", f"{tree}^{{tree}}").returncode == 0


def materialize(store: Path, tree: str, dest: Path) -> Path:
    """The tree's files in dest, as opencode restores a snapshot (read-tree, then checkout-index), through a private
    index: the store is only read."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replay-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for args in (("--work-tree", str(dest), "read-tree", tree), ("--work-tree", str(dest), "checkout-index", "-a",
                                                                       "-f")):
            r = _git(store, *args, env=env, cwd=dest)
            if r.returncode != 0:
                raise RuntimeError(f"replay: cannot check out snapshot {tree} from {store}: "
                                   f"{(r.stderr.strip().splitlines() or ['git failed'])[-1]}")
    return dest


@dataclass(frozen=True)
class ReplayTask(Task):
    """A held-out session as a task: repo = its first snapshot, fix = its end snapshot, test = its own test command."""
    store: str = ""
    start: str = ""
    end: str = ""
    tools: tuple[str, ...] = ()

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*TOOLCHAINS.get(self.language, ()), *self.tools)))

    def checkout(self, dest: Path, *, fixed: bool = False) -> Path:
        return materialize(Path(self.store), self.end if fixed else self.start, dest)


# -- held-out sessions ------------------------------------------------------------------------------------------

def held_out(data_dir: Path, name: str) -> list[dict[str, str]]:
    """The test split's sessions: source, id, language and the first user message of its first window."""
    import datasets

    from core.data import open_dataset

    datasets.disable_progress_bars()  # "Generating test split" is noise here
    ds = open_dataset(name, data_dir)
    if "test" not in ds:
        return []
    first: dict[tuple[str, str], dict] = {}
    for r in ds["test"]:
        key = (r["source"], r["session_id"])
        if key not in first or r["window_index"] < first[key]["window_index"]:
            first[key] = r
    out = []
    for (source, sid), r in first.items():
        msgs = [m if isinstance(m, dict) else json.loads(m) for m in r["messages"]]
        prompt = next((m.get("content") for m in msgs if m.get("role") == "user"), "") or ""
        out.append({"source": source, "session": sid, "language": r["language"],
                    "prompt": prompt if isinstance(prompt, str) else json.dumps(prompt)})
    return sorted(out, key=lambda s: (s["source"], s["session"]))


def manifest_sources(data_root: Path) -> list[tuple[str, Path]]:
    """The sources the extraction read, from data/manifest.json ("<kind> <path>")."""
    m = _json(data_root / "manifest.json") or {}
    out = []
    for s in m.get("sources") or []:
        if isinstance(s, str) and " " in s:
            kind, path = s.split(" ", 1)
            out.append((kind, Path(path).expanduser().resolve()))
    return out


def survey(data_dir: Path, name: str, *, agents: tuple[str, ...] = ("build", "build-*"),
           data_dirs: list[Path] | None = None, sandbox: str = "auto", check: bool = True,
           on_session=None) -> tuple[list[ReplayTask], dict[str, Any]]:
    """Every held-out session of data/<name>: the replayable ones as tasks, and each other one's reason.

    check: prove each candidate as `make agent-check` proves a bundled task (its judge fails on the start snapshot,
    passes on the end one) in the configured sandbox. on_session(entry) is called as each session is decided."""
    sessions = held_out(data_dir, name)
    sources = manifest_sources(data_dir.parent)
    tasks: list[ReplayTask] = []
    entries = []
    with tempfile.TemporaryDirectory(prefix="replay-check-") as scratch:
        for s in sessions:
            task, reason, detail = _decide(s, sources, agents, data_dirs or [], sandbox, check, Path(scratch))
            # the report shows commands from the raw log: secrets in them are redacted as extraction redacts
            entry = {"source": s["source"], "session": s["session"], "replayable": task is not None,
                     "reason": reason, "detail": redact_text(detail)}
            if task is not None:
                tasks.append(task)
                entry["test"] = redact_text(task.test)
            entries.append(entry)
            if on_session:
                on_session(entry)
    reasons = Counter(e["reason"] for e in entries if not e["replayable"])
    summary = {"held_out": len(sessions), "replayable": len(tasks),
               "not_replayable": {r: reasons[r] for r in REASONS if reasons[r]}, "sessions": entries}
    return tasks, summary


def _decide(s: dict, sources, agents, data_dirs, sandbox, check, scratch: Path):
    if s["source"] not in OPENCODE_SOURCES:
        return None, NOT_OPENCODE, s["source"]
    raw = find_session(sources, s["source"], s["session"])
    if raw is None:
        return None, NOT_FOUND, "none of the manifest's sources of its kind holds it now"
    p = plan(raw, agents)
    if p.start is None:
        return None, NO_SNAPSHOT, "its first step recorded no snapshot (snapshots off, or not a git project)"
    stores = candidate_stores(raw, data_dirs)
    if not stores:
        where = f"snapshot/{raw.project_id}" if raw.project_id else "snapshot/"
        return None, NO_STORE, f"no {where} under " + ", ".join(
            str(d) for d in dict.fromkeys([*raw.data_dirs, *data_dirs, default_data_dir()]))
    store = next((st for st in stores if has_tree(st, p.start)), None)
    if store is None:
        return None, TREE_MISSING, f"tree {p.start[:12]} is in none of {', '.join(map(str, stores))}"
    if p.test is None or not p.test_ok:
        return None, NO_TEST, ("it ran no test command" if p.test is None
                               else f"its last test run failed or did not finish: {p.test}")
    end = p.end if p.end and has_tree(store, p.end) else p.start
    test = judge_command(p.test, raw.worktree, raw.directory, p.workdir)
    task = ReplayTask(id=s["session"], language=s["language"], instruction=s["prompt"].strip(), test=test,
                      folder=store, timeout=max(300, p.timeout_s or 0), store=str(store), start=p.start, end=end,
                      tools=tuple(programs(p.test)))
    missing = task.missing_tools()
    if missing:
        return None, NO_TOOLCHAIN, ", ".join(missing)
    if check:
        from .runner import prove

        r = prove(task, scratch / task.id, sandbox_setting=sandbox)
        if r["unfixed_passes"]:
            return None, ALREADY_PASSING, test
        if not r["fixed_passes"]:
            return None, END_FAILS, f"{test} (end snapshot {end[:12]})"
    return task, "replayable", test


def summary_line(summary: dict[str, Any]) -> str:
    """`5 held-out sessions, 2 replayable (not: no step-start snapshot 2, ...)`."""
    why = ", ".join(f"{r} {n}" for r, n in summary["not_replayable"].items())
    return (f"{summary['held_out']} held-out sessions, {summary['replayable']} replayable"
            + (f" (not: {why})" if why else ""))


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"Replayed held-out sessions: {summary_line(summary)}. Each replayable session starts from its first "
             "step's snapshot with its first prompt and is judged by the test command it last ran successfully; "
             "sessions whose start snapshot already passes that test are left out.", "",
             "| session | source | replayable | why not / judge |", "|---|---|---|---|"]
    for e in summary["sessions"]:
        lines.append(f"| {e['session']} | {e['source']} | {'yes' if e['replayable'] else 'no'} | "
                     f"{'`' + e['test'] + '`' if e['replayable'] else e['reason']} |")
    return "\n".join(lines) + "\n"


def none_replayable(name: str, summary: dict[str, Any]) -> str:
    if not summary["held_out"]:
        return f"{name}: no held-out sessions in its test split to replay"
    why = ", ".join(f"{r}: {n}" for r, n in summary["not_replayable"].items())
    return f"{name}: none of the {summary['held_out']} held-out sessions can be replayed ({why})"
