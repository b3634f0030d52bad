"""Worker processes that die with their parent.

A pool worker whose parent is killed (``kill -9`` of ``autolr bench --workers N``) is not
told: it would live on as an orphan holding its model's memory. ``die_with_parent`` runs in
each worker (as the pool's initializer) and arranges two independent exits:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker when the
  thread that spawned it exits, whatever the way, at once;
- everywhere, a daemon thread that polls ``os.getppid()`` and exits the process when it
  changes (the worker was re-parented to init or a subreaper), for systems without prctl.

(PDEATHSIG fires on the death of the spawning *thread*; ProcessPoolExecutor spawns its
workers from the thread that calls ``submit``, the main thread in ``execute``.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_S = 1.0


def die_with_parent(poll_s: float = POLL_S) -> None:
    """Make this process exit when its parent dies (a pool worker initializer)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        _set_pdeathsig(signal.SIGKILL)
    # the parent may have died before the signal was armed: then we are already orphaned
    if os.getppid() != parent:
        os._exit(1)
    watchdog = threading.Thread(
        target=_watch, args=(parent, poll_s), name="autolr-parent-watchdog", daemon=True
    )
    watchdog.start()


def _set_pdeathsig(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent exits."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc or no prctl: the watchdog still covers it
        return False


def _watch(parent: int, poll_s: float) -> None:
    stop = threading.Event()
    while not stop.wait(poll_s):
        if os.getppid() != parent:
            # _exit: no cleanup handlers, which could block on the dead parent's pipes
            os._exit(1)
            return  # reached only where _exit is stubbed (tests)
