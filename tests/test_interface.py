"""Issue 18 (safety of the interface): one name is one destination, -o everywhere, output as promised."""

import json
import re

import pytest

from msgctl.errors import ExitCode
from tests.helpers import dead_letter_pair, depth
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
    commands = (
        ("create", plain, "amq:queue/a"),
        ("show", plain),
        ("check", plain),
        ("delete", plain, "--yes"),
    )
    for command in commands:
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


# Item 10: -o works the same before and after every command; a format a command cannot print is named.
@pytest.mark.parametrize("where", ["before", "after"])
def test_fifo_lag_takes_nagios_and_prometheus_before_or_after(invoke, amq, stomp_conn, unique, where):
    _fill(stomp_conn, f"/queue/{unique}", 1)
    for fmt, first_word in (("nagios", "OK: "), ("prometheus", "# ")):
        args = ("fifo", "lag", f"amq:queue/{unique}", "--group-property", "JMSType")
        result = invoke("-o", fmt, *args) if where == "before" else invoke(*args, "-o", fmt)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert result.stdout.startswith(first_word)


@pytest.mark.parametrize("where", ["before", "after"])
def test_dlq_export_purge_cancel_and_filter_detach_take_o(invoke, aws, sqs, sns, unique, where):
    _, dlq_url, ids = dead_letter_pair(sqs, unique, 2)
    dlq = f"sqs:{unique}-dlq"

    def run(*args):
        return invoke("-o", "json", *args) if where == "before" else invoke(*args, "-o", "json")

    exported = run("dlq", "export", dlq, "--max", "2")
    assert exported.exit_code == 0, exported.stderr
    assert sorted(e["id"] for e in json.loads(exported.stdout)) == sorted(ids)

    cancelled = run("dlq", "cancel", dlq)
    # moto has no move tasks: what matters here is that -o got past the parser to the command
    assert cancelled.exit_code != ExitCode.USAGE and "move task" in cancelled.stderr

    purged = run("dlq", "purge", dlq, "--yes")
    assert purged.exit_code == 0, purged.stderr
    assert json.loads(purged.stdout) == {"dlq": dlq, "purged": True, "messages": 2}

    topic = sns.create_topic(Name=unique)["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    subscription = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": '{"kind": ["order"]}'},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    detached = run("filter", "detach", subscription)
    assert detached.exit_code == 0, detached.stderr
    assert json.loads(detached.stdout)["subscription"] == subscription
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
    assert attributes.get("FilterPolicy") in (None, "", "{}")  # "{}" is how SNS removes a policy


@pytest.mark.parametrize(
    ("args", "formats"),
    [
        (("-o", "nagios", "ls", "sqs"), "table, json or ndjson"),
        (("ls", "sqs", "-o", "prometheus"), "table, json or ndjson"),
        (("-o", "table", "dlq", "export", "sqs:{unique}-dlq"), "ndjson or json"),
        (("-o", "nagios", "dlq", "purge", "sqs:{unique}-dlq", "--yes"), "table, json or ndjson"),
        (("tail", "sqs:{unique}-dlq", "-o", "nagios"), "pretty, ndjson or json"),
    ],
)
def test_a_format_the_command_cannot_print_is_refused_naming_those_it_can(
    invoke, aws, sqs, unique, args, formats
):
    _, dlq_url, _ = dead_letter_pair(sqs, unique, 2)
    result = invoke(*(a.format(unique=unique) for a in args))
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.strip().endswith(f"prints {formats}") and result.stderr.count("\n") == 1
    assert depth(sqs, dlq_url) == 2


def test_msgctl_output_applies_where_it_suits(invoke, aws, sqs, unique, monkeypatch):
    dead_letter_pair(sqs, unique, 1)
    monkeypatch.setenv("MSGCTL_OUTPUT", "json")
    exported = invoke("dlq", "export", f"sqs:{unique}-dlq")
    assert exported.exit_code == 0, exported.stderr
    assert len(json.loads(exported.stdout)) == 1
    monkeypatch.setenv("MSGCTL_OUTPUT", "table")
    exported = invoke("dlq", "export", f"sqs:{unique}-dlq")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout.splitlines()[0])["channel"] == f"sqs:{unique}-dlq"


# Item 11: channels as sqs:NAME, times as ISO 8601, lists as lists, the ActiveMQ head age, send's id.
ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def test_filter_which_names_queues_as_sqs_addresses(invoke, aws, sqs, sns, unique):
    topic = sns.create_topic(Name=unique)["TopicArn"]
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    result = invoke("filter", "which", f"sns:{unique}", "--message", "{}", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [row["endpoint"] for row in json.loads(result.stdout)] == [f"sqs:{unique}"]


def test_dlq_status_names_the_destination_and_an_iso_start(invoke, localstack, unique):
    url, dlq_url, _ = dead_letter_pair(localstack, unique, 3)
    arns = {
        u: localstack.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for u in (url, dlq_url)
    }
    localstack.start_message_move_task(SourceArn=arns[dlq_url], DestinationArn=arns[url])
    result = invoke("dlq", "status", f"sqs:{unique}-dlq", "-o", "json")
    assert result.exit_code == 0, result.stderr
    task = json.loads(result.stdout)[0]
    assert task["destination"] == f"sqs:{unique}"
    assert ISO_8601.fullmatch(task["started"]), task["started"]


@pytest.mark.slow
def test_dlq_ls_sources_are_a_list_and_activemq_dlqs_have_a_head_age(
    invoke, aws, sqs, amq, stomp_conn, unique
):
    dead_letter_pair(sqs, unique, 1)
    _fill(stomp_conn, f"/queue/DLQ.{unique}", 2)
    rows = {r["channel"]: r for r in json.loads(invoke("dlq", "ls", "--prefix", unique, "-o", "json").stdout)}
    assert rows[f"sqs:{unique}-dlq"]["sources"] == [f"sqs:{unique}"]
    listed = invoke("dlq", "ls", "--prefix", f"DLQ.{unique}", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["channel"] == f"amq:queue/DLQ.{unique}" and row["sources"] == []
    assert isinstance(row["oldest_age_s"], float) and 0 <= row["oldest_age_s"] < 600


def test_send_to_activemq_prints_the_id_the_message_carries(invoke, amq, stomp_conn, unique):
    result = invoke("send", f"amq:queue/{unique}", "hello", "-o", "json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)["id"]
    assert printed
    inbox = Inbox()
    stomp_conn.set_listener("ids", inbox)
    stomp_conn.subscribe(f"/queue/{unique}", id="ids", ack="auto")
    frame = inbox.frames.get(timeout=10)
    assert frame.body == b"hello" and frame.headers["msgctl_id"] == printed


def test_chain_create_compares_and_updates_the_tags_of_an_existing_chain(invoke, aws, sqs, sns, unique):
    topic_arn = sns.create_topic(Name=unique, Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    url = sqs.create_queue(QueueName=unique, tags={"team": "a", "other": "kept"})["QueueUrl"]
    args = (
        "chain",
        "create",
        f"sns:{unique}",
        f"sqs:{unique}",
        "--no-dlq",
        "--tag",
        "team=b",
        "--tag",
        "env=prod",
    )
    plan = invoke(*args, "-o", "json")
    assert plan.exit_code == 0, plan.stderr
    rows = {row["resource"]: row for row in json.loads(plan.stdout)}
    assert rows[f"tags sns:{unique}"]["action"] == "update"
    assert rows[f"tags sns:{unique}"]["detail"] == "team=b (was a), env=prod"
    assert rows[f"tags sqs:{unique}"]["status"] == "applied"
    topic_tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=topic_arn)["Tags"]}
    assert topic_tags == {"team": "b", "env": "prod"}
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b", "env": "prod", "other": "kept"}
    again = json.loads(invoke(*args, "-o", "json").stdout)
    assert {row["action"] for row in again if row["resource"].startswith("tags")} == {"unchanged"}
