"""ActiveMQ over STOMP against a real broker; destinations are made and checked with plain stomp.py."""

import json
import queue
import time
import uuid

import pytest

from msgctl.errors import ExitCode


class Inbox:
    def __init__(self) -> None:
        self.frames: queue.Queue = queue.Queue()

    def on_message(self, frame) -> None:
        self.frames.put(frame)


def _confirmed(stomp_conn, frame) -> None:
    """Call ``frame(headers)`` with a receipt header and wait until the broker acknowledged it."""
    receipt = uuid.uuid4().hex
    got: queue.Queue = queue.Queue()

    class Waiter:
        def on_receipt(self, reply) -> None:
            if reply.headers.get("receipt-id") == receipt:
                got.put(True)

    stomp_conn.set_listener(f"receipt-{receipt}", Waiter())  # registered before the frame goes out
    frame({"receipt": receipt})
    assert got.get(timeout=10)
    stomp_conn.remove_listener(f"receipt-{receipt}")


def _fill(stomp_conn, destination: str, count: int) -> None:
    for n in range(count - 1):
        stomp_conn.send(destination, f"m{n}".encode(), headers={"persistent": "true"})
    _confirmed(
        stomp_conn,
        lambda h: stomp_conn.send(destination, f"m{count - 1}".encode(), headers={"persistent": "true", **h}),
    )


def test_ls_reports_depth_and_consumers(invoke, amq, stomp_conn, unique) -> None:
    _fill(stomp_conn, f"/queue/{unique}.a", 5)
    _fill(stomp_conn, f"/queue/{unique}.b", 2)
    inbox = Inbox()
    stomp_conn.set_listener("inbox", inbox)
    _confirmed(
        stomp_conn, lambda h: stomp_conn.subscribe(f"/topic/{unique}.t", id="t1", ack="auto", headers=h)
    )
    result = invoke("ls", "amq", "--prefix", unique, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["channel"]: row for row in json.loads(result.stdout)}
    assert rows[f"amq:queue/{unique}.a"]["depth"] == 5
    assert rows[f"amq:queue/{unique}.b"]["depth"] == 2
    assert rows[f"amq:queue/{unique}.a"]["in_flight"] == 0
    assert rows[f"amq:topic/{unique}.t"]["kind"] == "topic"
    assert rows[f"amq:topic/{unique}.t"]["subscriptions"] == 1
    assert not any("Advisory" in channel for channel in rows)


def test_stats_counts_and_oldest_age(invoke, amq, stomp_conn, unique) -> None:
    _fill(stomp_conn, f"/queue/{unique}", 3)
    time.sleep(0.05)  # a measurable age; the assertion below does not depend on how long
    result = invoke("stats", f"amq:queue/{unique}", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["depth"], doc["enqueue_count"], doc["dequeue_count"], doc["consumer_count"]) == (3, 3, 0, 0)
    assert 0 < doc["oldest_age_s"] < 60


def test_stats_names_the_individual_dlq(invoke, amq, stomp_conn, unique) -> None:
    _fill(stomp_conn, f"/queue/{unique}", 1)
    inbox = Inbox()
    stomp_conn.set_listener("inbox", inbox)
    stomp_conn.subscribe(f"/queue/{unique}", id="s1", ack="client-individual")
    frame = inbox.frames.get(timeout=10)
    stomp_conn.nack(frame.headers["ack"])
    stomp_conn.unsubscribe("s1")
    deadline = time.monotonic() + 10
    while True:  # the NACK is asynchronous: poll the DLQ's depth until the broker has moved it
        dlq = invoke("stats", f"amq:queue/DLQ.{unique}", "-o", "json")
        if dlq.exit_code == 0 and json.loads(dlq.stdout)["depth"] == 1:
            break
        assert time.monotonic() < deadline, dlq.stderr
        time.sleep(0.1)
    doc = json.loads(invoke("stats", f"amq:queue/{unique}", "-o", "json").stdout)
    assert doc["dlq"] == f"amq:queue/DLQ.{unique}"
    assert doc["depth"] == 0


def test_send_is_persistent_and_keeps_properties(invoke, amq, stomp_conn, unique) -> None:
    result = invoke(
        "send",
        f"amq:queue/{unique}",
        '{"x": 1}',
        "--attr",
        "kind=order",
        "--attr",
        "n:Number=5",
        "--group-id",
        "g7",
        "--dedup-id",
        "d1",
    )
    assert result.exit_code == 0, result.stderr
    inbox = Inbox()
    stomp_conn.set_listener("inbox", inbox)
    stomp_conn.subscribe(f"/queue/{unique}", id="s1", ack="auto")
    frame = inbox.frames.get(timeout=10)
    assert frame.body == b'{"x": 1}'
    assert frame.headers["persistent"] == "true"
    assert frame.headers["kind"] == "order"
    assert frame.headers["n"] == "5"
    assert frame.headers["msgctl_group"] == "g7"
    assert frame.headers["msgctl_dedup_id"] == "d1"


def test_send_from_stdin_to_a_topic_reaches_its_subscriber(invoke, amq, stomp_conn, unique) -> None:
    inbox = Inbox()
    stomp_conn.set_listener("inbox", inbox)
    _confirmed(stomp_conn, lambda h: stomp_conn.subscribe(f"/topic/{unique}", id="t1", ack="auto", headers=h))
    assert invoke("send", f"amq:topic/{unique}", input=b"\x00binary\xff").exit_code == 0
    assert inbox.frames.get(timeout=10).body == b"\x00binary\xff"


def test_binary_attribute_is_refused_and_nothing_is_sent(invoke, amq, unique) -> None:
    result = invoke("send", f"amq:queue/{unique}", "x", "--attr", "b:Binary=AA==")
    assert result.exit_code == ExitCode.USAGE
    assert invoke("stats", f"amq:queue/{unique}").exit_code == ExitCode.NOT_FOUND


def test_missing_destination_exits_4_and_is_not_created(invoke, amq, unique) -> None:
    for _ in range(2):
        result = invoke("stats", f"amq:queue/{unique}")
        assert result.exit_code == ExitCode.NOT_FOUND
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("spec", ["flag", "profile"])
def test_broker_from_flag_or_profile(
    invoke, broker_url, stomp_conn, unique, tmp_path, monkeypatch, spec
) -> None:
    _fill(stomp_conn, f"/queue/{unique}", 1)
    if spec == "flag":
        args = ["--broker", broker_url]
    else:
        config = tmp_path / "config.toml"
        config.write_text(f'[brokers.local]\nurls = ["{broker_url}"]\n')
        monkeypatch.setenv("MSGCTL_CONFIG", str(config))
        args = []
    address = f"amq://local/queue/{unique}" if spec == "profile" else f"amq:queue/{unique}"
    result = invoke(*args, "stats", address, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["depth"] == 1


def test_env_broker_beats_config_default_and_flag_beats_env(
    invoke, broker_url, unique, tmp_path, monkeypatch
):
    config = tmp_path / "config.toml"
    config.write_text(f'default_broker = "local"\n[brokers.local]\nurls = ["{broker_url}"]\n')
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    assert invoke("ls", "amq").exit_code == 0
    monkeypatch.setenv("MSGCTL_BROKER", "stomp://127.0.0.1:9")
    assert invoke("ls", "amq").exit_code == ExitCode.FAILED
    assert invoke("--broker", "local", "ls", "amq").exit_code == 0


def test_failover_list_skips_a_dead_endpoint(invoke, broker_url, stomp_conn, unique) -> None:
    _fill(stomp_conn, f"/queue/{unique}", 2)
    result = invoke(
        "--broker", f"stomp://127.0.0.1:9,{broker_url}", "stats", f"amq:queue/{unique}", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["depth"] == 2


def test_reserved_stomp_headers_are_refused(invoke, amq, unique) -> None:
    for header in ("content-length=2", "persistent=false", "destination=/queue/other"):
        result = invoke("send", f"amq:queue/{unique}", "hello", "--attr", header)
        assert result.exit_code == ExitCode.USAGE
        assert "STOMP header" in result.stderr
    assert invoke("stats", f"amq:queue/{unique}").exit_code == ExitCode.NOT_FOUND, "nothing was sent"


def test_ls_of_everything_lists_what_answers_and_exits_3(invoke, aws, sqs, unique) -> None:
    sqs.create_queue(QueueName=unique)
    result = invoke("--broker", "stomp://127.0.0.1:9", "ls", "--prefix", unique, "-o", "json")
    assert result.exit_code == ExitCode.PARTIAL
    assert [row["channel"] for row in json.loads(result.stdout)] == [f"sqs:{unique}"]
    assert "msgctl: warning: amq: cannot connect to broker stomp://127.0.0.1:9" in result.stderr


def test_workers_using_a_fresh_session_at_once_share_one_connection(monkeypatch) -> None:
    """Replay workers send on one session: two connections would split a transaction across them."""
    import threading

    from msgctl.backends.stomp_session import StompSession
    from msgctl.broker import BrokerEndpoint, BrokerTarget

    session = StompSession(BrokerTarget((BrokerEndpoint("127.0.0.1", 1, False),)))
    connects = []
    both_waiting = threading.Barrier(2)

    def slow_connect() -> None:
        connects.append(object())
        time.sleep(0.1)
        session._conn = connects[-1]

    monkeypatch.setattr(session, "connect", slow_connect)
    seen = []

    def use() -> None:
        both_waiting.wait()
        seen.append(session.conn)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(connects) == 1 and seen[0].raw is seen[1].raw is connects[0]
