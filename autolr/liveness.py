"""Is a worker still alive? One answer for the results store and the search storage.

A worker names itself ``"host:pid"`` (its host name and process id) when it claims a cell or a
trial. A later process decides from that name alone whether the claim is stale:

* another host: alive. Nothing on this machine can tell, so a heartbeat or a person must
  decide; calling it dead would run the work twice.
* this host, a process with that pid exists: alive (also when it belongs to another user, which
  ``kill(pid, 0)`` reports as a permission error).
* this host, no such process: dead.
* a malformed name (no ``:``, an empty host, a pid that is not a positive integer): dead. It
  cannot belong to a live worker of ours, and treating it as alive would leave its cell or
  trial claimed forever. A pid of 0 or below is malformed, not probed: ``kill(0, 0)`` and
  ``kill(-n, 0)`` signal process groups and would answer for some other process.
"""

from __future__ import annotations

import os
import socket


def alive(owner: str) -> bool:
    """Whether the worker ``owner`` (``"host:pid"``) may still be running (see the module)."""
    host, sep, pid_text = owner.rpartition(":")
    if not sep or not host:
        return False
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
