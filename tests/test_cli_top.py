"""msgctl top: rates measured against a producer of known speed, the recorder's NDJSON, and the live screen
in a real terminal (a pty): keys work, and the terminal is restored on q and on SIGTERM."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time

import pytest

from msgctl.api.top import TopSampler, _change
from msgctl.core.health import Measure
from tests.helpers import msgctl_env


def test_rates_come_from_counters_or_the_change_of_depth():
    assert _change(100, 300, 2.0) == 100.0
    assert _change(300, 100, 2.0) is None, "a counter that went down (a broker restart) says nothing"
    assert _change(300, 100, 2.0, signed=True) == -100.0, "a depth that went down is a net rate out"
    sampler = TopSampler.__new__(TopSampler)
    sampler._before = {
        "amq:queue/a": Measure("amq:queue/a", "queue", enqueued=10, dequeued=5, taken_at=1.0),
        "sqs:b": Measure("sqs:b", "queue", depth=10, taken_at=1.0),
    }
    counted = Measure("amq:queue/a", "queue", enqueued=410, dequeued=105, taken_at=3.0)
    assert sampler._rates(counted) == (200.0, 50.0, "counters")
    assert sampler._rates(Measure("sqs:b", "queue", depth=4, taken_at=4.0)) == (-2.0, None, "net")
    assert sampler._rates(Measure("sqs:new", "queue", depth=4, taken_at=4.0)) == (None, None, "net")


def test_rate_in_follows_a_producer_of_200_messages_a_second(invoke, amq, stomp_conn, unique):
    stop = threading.Event()

    def produce() -> None:
        start, sent = time.monotonic(), 0
        while not stop.is_set():
            due = int((time.monotonic() - start) * 200)  # 200 a second, on schedule
            for _ in range(due - sent):
                stomp_conn.send(f"/queue/{unique}", b"tick")
            sent = max(sent, due)
            time.sleep(0.005)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        time.sleep(1.0)  # the producer at full speed before the first sample
        result = invoke("top", f"amq:queue/{unique}", "--count", "3", "--interval", "1")
    finally:
        stop.set()
        producer.join()
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["channel"] for row in rows] == [f"amq:queue/{unique}"] * 3
    assert set(rows[0]) >= {
        "t",
        "channel",
        "depth",
        "in_flight",
        "rate_in",
        "rate_out",
        "oldest_age_s",
        "dlq_depth",
        "consumers",
    }
    assert rows[0]["rate_in"] is None, "the first sample has nothing to compare with"
    for row in rows[1:]:
        assert 150 <= row["rate_in"] <= 250, rows
        assert row["rate_out"] == 0.0 and row["rates"] == "counters"
    assert rows[2]["depth"] > rows[1]["depth"] > rows[0]["depth"]


def _run_in_terminal(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "msgctl", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"},
        start_new_session=True,
    )
    os.close(terminal)
    return process, controller


def _read_until(controller: int, wanted: bytes, seconds: float = 20.0) -> bytes:
    seen, deadline = b"", time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                seen += os.read(controller, 65536)
            except OSError:  # the process ended: its terminal closed
                break
    return seen


@pytest.mark.parametrize("how", ["q", "SIGTERM"])
def test_the_live_screen_takes_keys_and_restores_the_terminal(amq, broker_url, stomp_conn, unique, how):
    stomp_conn.send(f"/queue/{unique}.watched", b"waiting", headers={"persistent": "true"})
    env = {**msgctl_env("http://127.0.0.1:9"), "MSGCTL_BROKER": broker_url}
    process, controller = _run_in_terminal(["top", f"amq:queue/{unique}.watched", "--interval", "1"], env)
    try:
        screen = _read_until(controller, b"q quits")
        assert b"\x1b[?1049h" in screen, "the table is drawn on the alternate screen"
        assert f"amq:queue/{unique}.watched".encode() in screen
        assert b"sort: depth" in screen
        os.write(controller, b"s")
        assert b"sort: age" in _read_until(controller, b"sort: age")
        os.write(controller, b"/nothing-like-it\r")
        assert b"filter: 'nothing-like-it'" in _read_until(controller, b"filter: 'nothing-like-it'")
        if how == "q":
            os.write(controller, b"q")
        else:
            process.send_signal(signal.SIGTERM)
        rest = _read_until(controller, b"\x1b[?1049l")
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert b"\x1b[?1049l" in rest, "the alternate screen is left"
    assert code == (0 if how == "q" else 130)
    assert b"Traceback" not in rest


def test_the_recorder_stops_after_count_samples_and_names_each_channel(invoke, amq, stomp_conn, unique):
    for name in ("a", "b"):
        stomp_conn.send(f"/queue/{unique}.{name}", b"x", headers={"persistent": "true"})
    result = invoke("top", "--prefix", unique, "--count", "2", "--interval", "0.5")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    channels = [row["channel"] for row in rows if row["channel"].startswith(f"amq:queue/{unique}")]
    assert sorted(channels) == sorted([f"amq:queue/{unique}.a", f"amq:queue/{unique}.b"] * 2)
    bad = invoke("top", "--sort", "size", "--count", "1")
    assert bad.exit_code == 2 and "--sort must be one of depth, age, rate-in, rate-out, dlq" in bad.stderr


def test_the_terminal_modes_are_restored_after_the_keys(monkeypatch):
    """keys() puts a terminal in cbreak mode and gives it back as it was."""
    from msgctl.render.top import keys

    controller, terminal = pty.openpty()
    try:
        before = termios.tcgetattr(terminal)
        with os.fdopen(os.dup(terminal), "r") as stream, keys(stream) as read_key:
            assert not termios.tcgetattr(terminal)[3] & termios.ICANON, "cbreak: keys come one at a time"
            os.write(controller, b"s")
            assert read_key(2.0) == "s" and read_key(0.05) is None
        assert termios.tcgetattr(terminal) == before
    finally:
        os.close(controller)
        os.close(terminal)
