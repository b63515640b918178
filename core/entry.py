"""How every entry point ends: Ctrl-C is one line and exit 130, a full disk one line and exit 2, never a traceback."""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable


def run(prog: str, main: Callable[[], int | None], *, interrupted: str = "earlier outputs are unchanged") -> int:
    """`sys.exit(run("train", main))`: main's exit code, or 130 on Ctrl-C, or 2 when the disk is full.

    Outputs are swapped in whole (core.atomic), so an interrupted run leaves what was there before; `interrupted`
    says so, or says what else the stage keeps (training keeps its checkpoints)."""
    try:
        code = main() or 0
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done: a late Ctrl-C must not turn it into a failure
        return code
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; {interrupted}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # Exit here, not by returning: the interrupt has unwound every `with` (staging removed, locks released), and
        # a normal interpreter shutdown after a caught Ctrl-C was seen ending the process by SIGINT (-2), not 130.
        os._exit(130)
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
