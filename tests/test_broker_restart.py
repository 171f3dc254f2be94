"""ActiveMQ crashes (kill -9) and comes back in the middle of a redrive: msgctl stops with a clear error,
and a rerun moves the rest; every message arrives exactly once (the transactions are atomic)."""

import json
import queue
import subprocess
import sys
import time

import pytest
import stomp

from tests.broker_crash import crash_and_restart_activemq

COUNT = 8000


def _connect(broker_url):
    host, port = broker_url.removeprefix("stomp://").split(":")
    conn = stomp.Connection12([(host, int(port))], auto_decode=False)
    conn.connect(wait=True)
    return conn


def _fill(broker_url, name):
    conn, receipts = _connect(broker_url), queue.Queue()

    class Receipts:
        def on_receipt(self, frame):
            receipts.put(frame.headers["receipt-id"])

    conn.set_listener("receipts", Receipts())
    for n in range(COUNT):
        headers = {"persistent": "true", "n": str(n)}
        if n == COUNT - 1:
            headers["receipt"] = "filled"
        conn.send(f"/queue/{name}", str(n).encode(), headers=headers)
    assert receipts.get(timeout=60) == "filled"
    conn.disconnect()


def _depth(invoke, name):
    result = invoke("-o", "json", "stats", f"amq:queue/{name}")
    return json.loads(result.stdout)["depth"] if result.exit_code == 0 else 0


@pytest.mark.slow
def test_a_broker_crash_mid_redrive_is_a_clear_error_and_a_rerun_moves_each_message_once(
    invoke, amq, servers, sandbox_directory, unique
):
    _fill(amq, f"DLQ.{unique}")
    command = [sys.executable, "-m", "msgctl", "--broker", amq, "-o", "json", "dlq", "redrive"]
    command += [f"amq:queue/DLQ.{unique}", "--to", f"amq:queue/{unique}", "--yes"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _depth(invoke, unique) < 500:  # crash it part-way
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    servers.servers["amq"] = crash_and_restart_activemq(sandbox_directory)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("msgctl: error: ") and "broker" in lines[0], stderr
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert _depth(invoke, f"DLQ.{unique}") == 0
    conn, frames = _connect(amq), queue.Queue()

    class Collector:
        def on_message(self, frame):
            frames.put(int(frame.headers["n"]))

    conn.set_listener("collect", Collector())
    conn.subscribe(f"/queue/{unique}", id="collect", ack="auto")
    received = [frames.get(timeout=20) for _ in range(COUNT)]
    time.sleep(0.5)  # anything beyond COUNT would be a duplicate: give it the time to show
    conn.disconnect()
    assert frames.empty(), "no message arrived twice"
    assert sorted(received) == list(range(COUNT)), "every message arrived once"
