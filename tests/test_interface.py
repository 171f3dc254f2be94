"""Issue 18 (safety of the interface): one name is one destination, -o everywhere, output as promised."""

import json

import pytest

from msgctl.errors import ExitCode
from tests.test_cli_activemq import Inbox, _confirmed, _fill


# Item 5: ActiveMQ wildcards and composite destinations are refused in every command.
@pytest.mark.parametrize("pattern", ["x.*", "x.>", "a,b", "*"])
@pytest.mark.parametrize(
    "command",
    [
        ("send", "{channel}", "body"),
        ("tail", "{channel}", "-n", "1", "--wait", "1", "-o", "ndjson"),
        ("stats", "{channel}"),
        ("dlq", "redrive", "{channel}", "--dry-run"),
        ("fifo", "lag", "{channel}"),
    ],
)
def test_activemq_wildcards_and_composites_are_refused(invoke, amq, stomp_conn, unique, pattern, command):
    _fill(stomp_conn, f"/queue/{unique}.one", 2)
    channel = f"amq:queue/{unique}.{pattern}" if pattern != "*" else "amq:queue/*"
    result = invoke(*(part.format(channel=channel) for part in command))
    assert result.exit_code == ExitCode.USAGE, result.stdout + result.stderr
    assert "wildcard" in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""
    stats = json.loads(invoke("stats", f"amq:queue/{unique}.one", "-o", "json").stdout)
    assert stats["depth"] == 2


# Item 6: amq:topic/NAME is the topic NAME in every command; a chain's topic is written VirtualTopic.NAME.
def _receive_one(stomp_conn, queue_name: str, listener: str) -> bytes:
    inbox = Inbox()
    stomp_conn.set_listener(listener, inbox)
    _confirmed(
        stomp_conn,
        lambda h: stomp_conn.subscribe(
            f"/queue/{queue_name}", id=listener, ack="client-individual", headers=h
        ),
    )
    frame = inbox.frames.get(timeout=10)
    stomp_conn.ack(frame.headers["ack"], frame.headers["subscription"])
    stomp_conn.unsubscribe(id=listener)
    return frame.body


def test_one_topic_name_means_one_destination_in_every_command(invoke, amq, stomp_conn, unique) -> None:
    virtual = f"amq:topic/VirtualTopic.{unique}"
    plain = f"amq:topic/{unique}"
    for command in (("create", plain, "amq:queue/a"), ("show", plain), ("check", plain)):
        refused = invoke("chain", *command)
        assert refused.exit_code == ExitCode.USAGE, refused.stdout + refused.stderr
        assert f"amq:topic/VirtualTopic.{unique}" in refused.stderr
    created = invoke("chain", "create", virtual, "amq:queue/billing", "amq:queue/shipping", "-o", "json")
    assert created.exit_code == 0, created.stderr

    sent = invoke("send", virtual, "fan out")
    assert sent.exit_code == 0, sent.stderr
    for consumer in ("billing", "shipping"):
        body = _receive_one(stomp_conn, f"Consumer.{consumer}.VirtualTopic.{unique}", f"c-{consumer}")
        assert body == b"fan out"

    tree = json.loads(invoke("chain", "show", virtual, "-o", "json").stdout)
    listed = json.loads(invoke("ls", "amq", "--prefix", f"VirtualTopic.{unique}", "-o", "json").stdout)
    stats = json.loads(invoke("stats", virtual, "-o", "json").stdout)
    assert tree["topic"] == virtual
    assert [row["channel"] for row in listed] == [virtual]
    assert listed[0]["subscriptions"] == stats["subscriptions"] == len(tree["subscriptions"]) == 2
