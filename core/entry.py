"""How every entry point ends: Ctrl-C is one line and exit 130, SIGTERM the same with exit 143, a full disk one line and
exit 2, never a traceback."""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from .errors import Terminated


def _terminate(signum, frame):
    raise Terminated()


def stop_on_sigterm() -> None:
    """SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread: the stage unwinds as on Ctrl-C."""
    signal.signal(signal.SIGTERM, _terminate)


def stopped(e: KeyboardInterrupt) -> tuple[str, int]:
    """How a stop reads and the exit code it ends with: Ctrl-C 'interrupted', 130; SIGTERM 'terminated', 143."""
    return ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)


def run(prog: str, main: Callable[[], int | None], *, interrupted: str = "earlier outputs are unchanged") -> int:
    """`sys.exit(run("train", main))`: main's exit code, or 130 on Ctrl-C, 143 on SIGTERM, or 2 when the disk is full.

    Outputs are swapped in whole (core.atomic), so an interrupted run leaves what was there before; `interrupted`
    says so, or says what else the stage keeps (training keeps its checkpoints)."""
    stop_on_sigterm()
    try:
        code = main() or 0
        # the work is done: a late Ctrl-C or SIGTERM must not turn it into a failure
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return code
    except KeyboardInterrupt as e:
        how, code = stopped(e)
        print(f"\n{prog}: {how}; {interrupted}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # Exit here, not by returning: the interrupt has unwound every `with` (staging removed, locks released), and
        # a normal interpreter shutdown after a caught Ctrl-C was seen ending the process by SIGINT (-2), not 130.
        os._exit(code)
    except OSError as e:
        from .atomic import is_disk_full

        if not is_disk_full(e):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(f"{prog}: error: no space left on device{where}; earlier outputs are unchanged: free some space and "
              f"run again", file=sys.stderr, flush=True)
        return 2


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child process: get `sig` when the process that started it dies, even by SIGKILL (Linux only; elsewhere
    nothing), so that a killed parent leaves no server or worker behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
