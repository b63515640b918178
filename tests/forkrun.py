"""`python -m <stage>` for the tests, forked from a process that has already imported the heavy libraries.

On a 2-core machine `import peft` alone takes about 9 s, and most of a stage's run in the slow tests is that import:
an eval of the crash tests' tiny adapter is 3 s of work after 12 s of imports. `run` forks each stage from a zygote
(a Python started once per test session that imports torch, transformers, peft, trl and datasets and nothing of this
project) and runs the module as `python -m` would: a process of its own with its own pid, argv, environment, working
folder, standard streams and exit status; signals reach it as they reach any process (kill -9, Ctrl-C, SIGTERM), and
this project's modules are imported fresh in every run. Where a run's environment differs from the zygote's in a
variable the libraries read when imported (HF_*, TRANSFORMERS_*, TOKENIZERS_*, TORCH*, OMP_*, ...), or
WORKBENCH_TESTS_EXEC=1 is set, it runs as a plain subprocess instead.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRELOAD = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "safetensors", "yaml", "numpy",
           "pyarrow", "matplotlib")
# variables a library may read when it is imported: a run that sets them differently is not forked
IMPORT_TIME = ("HF_", "HUGGINGFACE", "TRANSFORMERS", "TOKENIZERS", "TORCH", "PYTORCH", "OMP_", "MKL_", "CUDA",
               "ACCELERATE", "TRL_", "DATASETS", "PYTHON", "MPLBACKEND", "MPLCONFIGDIR", "WANDB", "TQDM", "PEFT")


def _server() -> None:
    """The zygote: import the libraries, then fork one run per request line on stdin; report pid and status on stdout."""
    import importlib
    import runpy
    import traceback

    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    out = os.fdopen(os.dup(1), "w", buffering=1)  # the replies; anything a library prints goes to stderr
    os.dup2(2, 1)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:  # transformers imports its model classes lazily: these are the ones every stage loads
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
    except ImportError:
        pass
    print(json.dumps({"ready": os.getpid()}), file=out)
    for line in sys.stdin:
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                out.close()
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.environ.clear()
                os.environ.update(req["env"])
                tempfile.tempdir = None  # gettempdir() reads TMPDIR again
                os.chdir(req["cwd"])
                for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, req["stdout"], os.O_WRONLY),
                                       (2, req["stderr"], os.O_WRONLY)):
                    f = os.open(path, mode)
                    os.dup2(f, fd)
                    os.close(f)
                sys.stdin = open(0, closefd=False)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                target, args = req["argv"][0], req["argv"][1:]
                script = target.endswith(".py")
                first = str(Path(req["cwd"], target).resolve().parent) if script else req["cwd"]
                sys.path[:0] = [first, *[p for p in req["env"].get("PYTHONPATH", "").split(os.pathsep) if p]]
                sys.argv = [target, *args]
                try:
                    if script:  # python path/to/script.py
                        runpy.run_path(target, run_name="__main__")
                    else:  # python -m module
                        runpy.run_module(target, run_name="__main__", alter_sys=True)
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                    if e.code is not None and not isinstance(e.code, int):
                        print(e.code, file=sys.stderr)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                try:
                    atexit._run_exitfuncs()
                except BaseException:
                    traceback.print_exc()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), file=out)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), file=out)


class _Zygote:
    def __init__(self):
        self.env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, __file__], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1, env=self.env)
        assert "ready" in json.loads(self.proc.stdout.readline())
        self.lock = threading.Lock()

    def fits(self, env: dict) -> bool:
        keys = {k for k in (*env, *self.env) if k.startswith(IMPORT_TIME) and k != "PYTHONPATH"}
        return all(env.get(k) == self.env.get(k) for k in keys) and self.proc.poll() is None

    def run(self, argv, env, cwd, timeout, on_timeout_signal) -> tuple[int, str, str]:
        with self.lock, tempfile.TemporaryDirectory(prefix="forkrun-") as tmp:
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            out.touch()
            err.touch()
            req = {"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            pid = json.loads(self.proc.stdout.readline())["pid"]
            if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
                try:
                    os.kill(pid, on_timeout_signal)
                except ProcessLookupError:
                    pass
            status = json.loads(self.proc.stdout.readline())["status"]
            return status, out.read_text(errors="replace"), err.read_text(errors="replace")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


_zygote: _Zygote | None = None


def run(argv: list[str], *, env: dict | None = None, cwd: Path | str = REPO, kill_after: float | None = None,
        signal_: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    """`python -m argv[0] argv[1:]` (`python argv[0] ...` when argv[0] is a .py file) with `env` (default: this process's) in `cwd`; with `kill_after`, send `signal_`
    that many seconds in. Returns a CompletedProcess (returncode negative when a signal ended it)."""
    global _zygote
    env = dict(os.environ if env is None else env)
    if os.environ.get("WORKBENCH_TESTS_EXEC") != "1":
        if _zygote is None:
            _zygote = _Zygote()
            atexit.register(_zygote.close)
        if _zygote.fits(env):
            code, out, err = _zygote.run(argv, env, cwd, kill_after, signal_)
            return subprocess.CompletedProcess([sys.executable, *([] if argv[0].endswith(".py") else ["-m"]), *argv],
                                               code, out, err)
    cmd = [sys.executable, *([] if argv[0].endswith(".py") else ["-m"]), *argv]
    if kill_after is None:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        p.send_signal(signal_)
        out, err = p.communicate()
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


if __name__ == "__main__":
    _server()
