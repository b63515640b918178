"""A user's opencode data folder, built as opencode builds it: a real git project, a snapshot store made with the git
invocations of opencode's packages/opencode/src/snapshot/index.ts, and a database whose step-start / step-finish parts
hold the trees those invocations wrote. This module holds no tests itself.

The project is a small Python package whose start fails `python3 -m unittest` and whose fix passes it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TEST = ("import unittest\n\nfrom calc import add\n\n\nclass T(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n")
UNITTEST = "python3 -m unittest"

_GIT_ENV = {"GIT_AUTHOR_NAME": "u", "GIT_AUTHOR_EMAIL": "u@example.com", "GIT_COMMITTER_NAME": "u",
            "GIT_COMMITTER_EMAIL": "u@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path | None = None, env: dict | None = None, stdin: str | None = None) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                       env={**os.environ, **_GIT_ENV, **(env or {})})
    assert r.returncode in (0, 1), (args, r.stderr)  # check-ignore answers 1 for "nothing ignored"
    return r.stdout


def project(root: Path, *, calc: str = BUGGY) -> tuple[Path, str]:
    """A git repository with a first commit; its opencode project id (the root commit's hash)."""
    root.mkdir(parents=True)
    (root / "calc.py").write_text(calc)
    (root / "test_calc.py").write_text(TEST)
    (root / ".gitignore").write_text("__pycache__/\n")
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "start", cwd=root)
    roots = git("rev-list", "--max-parents=0", "--all", cwd=root).split()
    return root, sorted(roots)[0]  # opencode: the first of the sorted root commits


def store_dir(data: Path, project_id: str, worktree: Path) -> Path:
    """opencode 1.x: <data>/snapshot/<project id>/<Hash.fast(worktree)>, Hash.fast being sha1 hex."""
    return data / "snapshot" / project_id / hashlib.sha1(str(worktree).encode()).hexdigest()


def track(data: Path, project_id: str, worktree: Path, *, gitdir: Path | None = None) -> str:
    """Snapshot.track(): init the store the first time (config, then seed from the project's .git), add, write-tree."""
    gd = gitdir or store_dir(data, project_id, worktree)
    args = ["--git-dir", str(gd), "--work-tree", str(worktree)]
    cfg = ["-c", "core.autocrlf=false", "-c", "core.longpaths=true", "-c", "core.symlinks=true"]
    quote = [*cfg, "-c", "core.quotepath=false"]
    if not gd.exists():
        gd.mkdir(parents=True)
        git("init", env={"GIT_DIR": str(gd), "GIT_WORK_TREE": str(worktree)})
        for k, v in (("core.autocrlf", "false"), ("core.longpaths", "true"), ("core.symlinks", "true"),
                     ("core.fsmonitor", "false"), ("feature.manyFiles", "true"), ("index.version", "4"),
                     ("index.threads", "true"), ("core.untrackedCache", "true")):
            git("--git-dir", str(gd), "config", k, v)
        source = Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=worktree).strip())
        (gd / "objects" / "info").mkdir(parents=True, exist_ok=True)  # seed(): share the project's objects
        (gd / "objects" / "info" / "alternates").write_text(str(source / "objects") + "\n")
        if (source / "index").exists():
            shutil.copyfile(source / "index", gd / "index")
    # add(): sync the excludes, list changed and untracked files, drop ignored ones, stage the rest
    exclude = Path(git("rev-parse", "--path-format=absolute", "--git-path", "info/exclude", cwd=worktree).strip())
    (gd / "info").mkdir(exist_ok=True)
    text = exclude.read_text().rstrip() if exclude.exists() else ""
    (gd / "info" / "exclude").write_text(f"{text}\n" if text else "")
    tracked = git(*quote, *args, "diff-files", "--name-only", "-z", "--", ".", cwd=worktree).split("\0")
    untracked = git(*quote, *args, "ls-files", "--full-name", "--others", "--exclude-standard", "-z", "--", ".",
                    cwd=worktree).split("\0")
    files = list(dict.fromkeys(f for f in tracked + untracked if f))
    if files:
        ignored = set(git(*quote, "--git-dir", str(worktree / ".git"), "--work-tree", str(worktree), "check-ignore",
                          "--no-index", "--stdin", "-z", cwd=worktree, stdin="\0".join(files) + "\0").split("\0"))
        allow = [f for f in files if f not in ignored]
        if allow:
            git(*cfg, *args, "add", "--all", "--sparse", "--pathspec-from-file=-", "--pathspec-file-nul",
                cwd=worktree, stdin="\0".join(f":(top,literal){f}" for f in allow) + "\0")
    return git(*args, "write-tree", cwd=worktree).strip()


def digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root -> (sha256, mtime_ns): what proves a folder was only read."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def edit(worktree: Path, rel: str, old: str, new: str) -> dict:
    return {"tool": "edit", "input": {"filePath": str(worktree / rel), "oldString": old, "newString": new},
            "output": "Edit applied successfully."}


def bash(command: str, output: str, exit: int = 0, **extra) -> dict:
    return {"tool": "bash", "input": {"command": command, "description": "Run the tests", **extra}, "output": output,
            "exit": exit}


def read(worktree: Path, rel: str) -> dict:
    return {"tool": "read", "input": {"filePath": str(worktree / rel)}, "output": "1: def add(a, b):"}


FAIL_OUT = "F\n======\nFAIL: test_add (test_calc.T.test_add)\nAssertionError: -1 != 5\n\nFAILED (failures=1)"
PASS_OUT = "Ran 1 test in 0.000s\n\nOK"


def session(b, project_id: str, worktree: Path, prompt: str, steps: list[dict], *, directory: Path | None = None
            ) -> str:
    """A build session: the prompt, then one assistant step per dict ({text, tools, snapshot, end_snapshot})."""
    sid = b.session(project_id, directory=str(directory or worktree), title=prompt[:40], agent="build")
    u = b.user_message(sid, prompt, agent="build")
    for st in steps:
        b.assistant_step(sid, u, agent="build", **st)
    return sid


def fix_steps(work: Path, start: str | None, end: str | None, *, last_exit: int = 0, command: str = UNITTEST,
              snapshots: bool = True) -> list[dict]:
    """A session's steps: run the tests (they fail), fix add(), run `command` (exit last_exit), say so. The steps'
    snapshots: start until the fix, end after it (none at all without snapshots)."""
    def s(a, b):
        return {"snapshot": a, "end_snapshot": b} if snapshots else {"snapshot": None, "end_snapshot": None}

    return [
        {"text": "Running the tests first.", "tools": [read(work, "calc.py"), bash(UNITTEST, FAIL_OUT, 1)],
         **s(start, start)},
        {"tools": [edit(work, "calc.py", "a - b", "a + b")], **s(start, end)},
        {"tools": [bash(command, PASS_OUT if last_exit == 0 else FAIL_OUT, last_exit)], **s(end, end)},
        {"text": "Done: add() adds.", "finish": "stop", **s(end, end)},
    ]


def one_session(tmp: Path, prompt: str, *, command: str = UNITTEST) -> tuple[Path, str]:
    """An opencode data folder holding one replayable session with this first prompt, extracted with the session held
    out: (the data root, the session id)."""
    from extract.__main__ import main as extract_main
    from sample.store import StoreBuilder

    data = tmp / "share" / "opencode"
    data.mkdir(parents=True)
    work, pid = project(tmp / "calc")
    start = track(data, pid, work)
    (work / "calc.py").write_text(FIXED)
    fixed = track(data, pid, work)
    with StoreBuilder(data / "opencode.db") as b:
        b.project(str(work), id=pid)
        sid = session(b, pid, work, prompt, fix_steps(work, start, fixed, command=command))
    sides = tmp / "sides.json"
    sides.write_text(json.dumps({f"opencode:{sid}": "test"}))
    out = tmp / "data"
    assert extract_main(["--db", str(data / "opencode.db"), "--out", str(out), "--keep-sides", str(sides), "--quiet",
                         "extract.agent_files=false"]) == 0
    return out, sid
