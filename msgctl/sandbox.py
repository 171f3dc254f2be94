"""The embedded default: a local AWS endpoint (moto server) and, when installed, a local ActiveMQ.

``up`` starts what is not running yet and records it in a state file; ``down`` stops what ``up``
started. Both servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from msgctl.core.state_paths import state_dir
from msgctl.errors import MsgctlError
from msgctl.sandbox_activemq import write_broker_config

HOST = "127.0.0.1"
DEFAULT_AWS_PORT = 4577
DEFAULT_STOMP_PORT = 61613
PORT_SEARCH = 50  # ports tried after a taken default
REGION = "us-east-1"
ACCESS_KEY = "sandbox"
SECRET_KEY = "sandbox-secret"
JAVA_OPENS = (
    "java.base/java.lang",
    "java.base/java.util",
    "java.base/java.util.concurrent",
    "java.base/java.net",
    "java.base/java.security",
)


@dataclass
class Server:
    name: str
    pid: int
    url: str
    log: str
    marker: str = ""  # a word of its command line, so a recycled pid is never taken for it
    tls_url: str = ""  # ActiveMQ: its stomp+ssl connector, when keytool could make a certificate
    ca_file: str = ""  # the PEM that certificate verifies against

    @property
    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return self._is_ours()

    def _is_ours(self) -> bool:
        try:
            status = Path(f"/proc/{self.pid}/stat").read_text()
            command = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc (not Linux): trust the pid
        if status.rsplit(")", 1)[-1].split()[0] == "Z":
            return False  # exited, not yet reaped
        return not self.marker or self.marker.encode() in command


@dataclass
class SandboxState:
    servers: dict[str, Server] = field(default_factory=dict)
    seeded: bool = False
    notes: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if "aws" in self.servers:
            env.update(
                AWS_ENDPOINT_URL=self.servers["aws"].url,
                AWS_REGION=REGION,
                AWS_ACCESS_KEY_ID=ACCESS_KEY,
                AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            )
        if "amq" in self.servers:
            env["MSGCTL_BROKER"] = self.servers["amq"].url
        return env


def sandbox_dir() -> Path:
    if os.environ.get("MSGCTL_SANDBOX_DIR"):
        return Path(os.environ["MSGCTL_SANDBOX_DIR"])
    return state_dir() / "sandbox"


def load_state(directory: Path) -> SandboxState:
    try:
        raw = json.loads((directory / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return SandboxState()
    servers = {name: Server(**value) for name, value in raw.get("servers", {}).items()}
    return SandboxState(
        servers={n: s for n, s in servers.items() if s.alive}, seeded=raw.get("seeded", False)
    )


def save_state(directory: Path, state: SandboxState) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"servers": {n: asdict(s) for n, s in state.servers.items()}, "seeded": state.seeded}
    (directory / "state.json").write_text(json.dumps(payload, indent=2))


def up(
    directory: Path,
    aws_port: int | None = None,
    stomp_port: int | None = None,
    with_activemq: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> SandboxState:
    """Start what is not running. A port given is used or refused; without one, the default port or the
    next free one. If a server fails to start, the ones this call started are stopped again."""
    state = load_state(directory)
    started: list[Server] = []
    try:
        if "aws" not in state.servers:
            port = _port(aws_port, DEFAULT_AWS_PORT, "moto server", "--aws-port")
            progress(f"starting moto server on {HOST}:{port}")
            state.servers["aws"] = _start_moto(directory, port)
            started.append(state.servers["aws"])
            save_state(directory, state)
        if with_activemq and "amq" not in state.servers:
            _up_activemq(directory, state, stomp_port, progress)
    except BaseException:
        if started:
            progress(f"stopping what this run started: {', '.join(s.name for s in started)}")
            _stop_started(directory, started)
        raise
    return state


def _stop_started(directory: Path, started: list[Server]) -> None:
    """Stop exactly these servers (by pid: the state file may name others by now) and forget them."""
    for server in started:
        _stop(server)
    state = load_state(directory)
    pids = {server.pid for server in started}
    state.servers = {name: s for name, s in state.servers.items() if s.pid not in pids}
    save_state(directory, state)


def _up_activemq(
    directory: Path, state: SandboxState, stomp_port: int | None, progress: Callable[[str], None]
) -> None:
    activemq_home = find_activemq()
    if activemq_home is None:
        state.notes.append("ActiveMQ is not installed (Debian: apt-get install activemq); amq: skipped")
        return
    # The broker's stomp+ssl connector listens on the next port: both must be free.
    port = _port(stomp_port, DEFAULT_STOMP_PORT, "ActiveMQ STOMP", "--stomp-port", span=2)
    progress(f"starting ActiveMQ with STOMP on {HOST}:{port}")
    state.servers["amq"] = _start_activemq(directory, activemq_home, port)
    save_state(directory, state)


def _port(given: int | None, default: int, what: str, option: str, span: int = 1) -> int:
    """The port given, if free (with the ``span - 1`` after it); else the default or the next free one."""
    if given is not None:
        if _ports_taken(given, span):
            raise MsgctlError(
                f"cannot start {what}: something else already listens on {HOST}:{given}"
                f"{f' or {given + span - 1}' if span > 1 else ''}: pass {option} with a free port"
            )
        return given
    for port in range(default, default + PORT_SEARCH * span, span):
        if not _ports_taken(port, span):
            return port
    raise MsgctlError(
        f"cannot start {what}: ports {default} to {default + PORT_SEARCH * span - 1} are taken: pass {option}"
    )


def _ports_taken(first: int, span: int) -> bool:
    return any(_port_taken(port) for port in range(first, first + span))


def down(directory: Path, only: set[str] | None = None) -> list[str]:
    """Stop the sandbox servers (or only the named ones); returns the names stopped."""
    state = load_state(directory)
    stopped = []
    for name, server in list(state.servers.items()):
        if only is None or name in only:
            _stop(server)
            del state.servers[name]
            stopped.append(name)
    if not state.servers:
        state.seeded = False
    save_state(directory, state)
    return stopped


def find_activemq() -> Path | None:
    home = Path(os.environ.get("MSGCTL_ACTIVEMQ_HOME", "/usr/share/activemq"))
    if (home / "bin" / "activemq.jar").exists() and shutil.which("java"):
        return home
    return None


def _start_moto(directory: Path, port: int) -> Server:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise MsgctlError("the sandbox needs moto's server: pip install 'msgctl[sandbox]'") from None
    _require_free_port(port, "moto server")
    log = directory / "moto.log"
    directory.mkdir(parents=True, exist_ok=True)
    process = _spawn([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)], log)
    url = f"http://{HOST}:{port}"
    _wait_until(lambda: _http_ok(f"{url}/moto-api/"), process, "moto server", log, timeout=60)
    return Server("aws", process.pid, url, str(log), "moto.server")


def _start_activemq(directory: Path, home: Path, port: int, keep_data: bool = False) -> Server:
    _require_free_port(port, "ActiveMQ STOMP")
    base = directory / "activemq"
    if not keep_data:  # a sandbox broker starts empty, like the moto server beside it: a reseed never doubles
        shutil.rmtree(base / "data", ignore_errors=True)
    for sub in ("conf", "data", "lib"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    tls = write_broker_config(base, HOST, port)
    log = base / "activemq.log"
    java = shutil.which("java") or "java"
    command = [
        java,
        "-Xms64M",
        "-Xmx512M",
        *(f"--add-opens={m}=ALL-UNNAMED" for m in JAVA_OPENS),
        f"-Dactivemq.home={home}",
        f"-Dactivemq.base={base}",
        f"-Dactivemq.conf={base / 'conf'}",
        f"-Dactivemq.data={base / 'data'}",
        f"-Dactivemq.classpath={base / 'conf'}",
        f"-Dlog4j2.configurationFile={base / 'conf' / 'log4j2.properties'}",
        "-jar",
        str(home / "bin" / "activemq.jar"),
        "start",
        f"xbean:file:{base / 'conf' / 'activemq.xml'}",
    ]
    process = _spawn(command, log)
    _wait_until(lambda: _stomp_ready(port), process, "ActiveMQ", log, timeout=90)
    server = Server("amq", process.pid, f"stomp://{HOST}:{port}", str(log), "activemq.jar")
    if tls is not None:
        server.tls_url, server.ca_file = f"stomp+ssl://{HOST}:{port + 1}", str(tls[1])
    return server


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path, timeout: float
) -> None:
    """Wait for the server to answer; if it does not (or we are interrupted), stop it again."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MsgctlError(f"{what} exited with code {process.returncode} while starting; see {log}")
            if ready():
                return
            time.sleep(0.2)
        raise MsgctlError(f"{what} did not become ready within {timeout:.0f} s; see {log}")
    except BaseException:
        _stop(Server(what, process.pid, "", str(log)))
        raise


def _stop(server: Server, grace_s: float = 20.0) -> None:
    if not server.alive:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and server.alive:
        _reap(server.pid)
        time.sleep(0.1)
    if server.alive:
        os.killpg(server.pid, signal.SIGKILL)
    _reap(server.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _require_free_port(port: int, what: str) -> None:
    if _port_taken(port):
        raise MsgctlError(f"cannot start {what}: something else already listens on {HOST}:{port}")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def _http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stomp_ready(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00")
            reply = sock.recv(64)
            sock.sendall(b"DISCONNECT\n\n\x00")
            return reply.startswith(b"CONNECTED")
    except OSError:
        return False
