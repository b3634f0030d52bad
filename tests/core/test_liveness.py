import os
import socket
import subprocess
import sys

from autolr.liveness import alive


def test_this_process_is_alive_and_a_finished_one_is_not():
    host = socket.gethostname()
    assert alive(f"{host}:{os.getpid()}")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    assert not alive(f"{host}:{child.pid}")


def test_a_malformed_owner_is_not_alive():
    host = socket.gethostname()
    malformed = [f"{host}:abc", f"{host}:", f"{host}:0", f"{host}:-1", "no-colon"]
    for owner in [*malformed, f":{os.getpid()}"]:
        assert not alive(owner), owner


def test_another_hosts_worker_is_assumed_alive():
    other = socket.gethostname() + "-elsewhere"
    assert alive(f"{other}:1") and alive(f"{other}:999999")
