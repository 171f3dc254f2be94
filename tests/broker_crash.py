"""A broker crash for tests: kill -9 the shared sandbox broker and start it again on its data."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from msgctl.sandbox import Server, _port_taken, _start_activemq, _stop, find_activemq, load_state, save_state


def crash_and_restart_activemq(directory: Path) -> Server:
    """kill -9 the sandbox broker and start it again on its data (what a broker crash looks like)."""
    state = load_state(directory)
    server = state.servers.pop("amq")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)
    _stop(server)
    home = find_activemq()
    assert home is not None, "a running sandbox broker was installed"
    port = int(server.url.rsplit(":", 1)[-1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _port_taken(port):
        time.sleep(0.2)
    state.servers["amq"] = _start_activemq(directory, home, port, keep_data=True)
    save_state(directory, state)
    return state.servers["amq"]
