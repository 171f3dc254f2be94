"""Client.fifo_lag, the library call under `msgctl fifo lag`: against the moto server (an SQS FIFO queue
filled with boto3) and ActiveMQ (message groups sent with stomp.py), checked against what was sent."""

import time

import pytest

from msgctl import Client, MsgctlError
from msgctl.address import parse_channel
from tests.helpers import fill_fifo_groups
from tests.test_cli_activemq import _confirmed

SIZES = {"a": 1, "b": 3, "c": 5}  # 9 messages: one receive of 10 sees them all


def _fill_fifo(sqs, url, sizes):
    return fill_fifo_groups(sqs, url, sizes, gap_s=0.3)  # distinct head ages


@pytest.fixture
def fifo(aws, sqs, unique):
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def client(aws):
    with Client(endpoint_url=aws, region="us-east-1") as client:
        yield client


def _visible(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.mark.aws
def test_sqs_groups_counts_and_ages_match_what_was_sent(client, sqs, fifo, unique):
    head_sent = _fill_fifo(sqs, fifo, SIZES)
    measured_at = time.time()
    report = client.fifo_lag(f"sqs:{unique}.fifo", hold=20)
    assert [g.group for g in report.groups] == ["a", "b", "c"], "every group, oldest head first"
    for row in report.groups:
        assert (row.count, row.count_is_lower_bound) == (SIZES[row.group], False), row
        assert abs(row.oldest_age_s - (measured_at - head_sent[row.group])) < 3, row
        assert row.state == "waiting"
    assert report.queue["approximate_number_of_messages"] == 9
    assert report.queue["messages_seen"] == 9 and report.queue["hold_s"] == 20
    assert _visible(sqs, fifo) == (9, 0), "the sweep released everything it held"


@pytest.mark.aws
def test_sqs_a_group_deeper_than_the_sweep_saw_is_a_lower_bound(client, sqs, fifo, unique):
    _fill_fifo(sqs, fifo, {**SIZES, "deep": 12})
    report = client.fifo_lag(parse_channel(f"sqs:{unique}.fifo"))  # a Channel works as well as a string
    counts = {g.group: (g.count, g.count_is_lower_bound) for g in report.groups}
    assert set(counts) == {*SIZES, "deep"}
    assert all(counts[group] == (size, False) for group, size in SIZES.items()), counts
    assert counts["deep"][0] <= 12
    assert counts["deep"] == (12, False) or counts["deep"][1], "a short count says it is a lower bound"
    assert _visible(sqs, fifo) == (21, 0)


@pytest.mark.aws
def test_sqs_named_groups_and_top(client, sqs, fifo, unique):
    _fill_fifo(sqs, fifo, SIZES)
    named = client.fifo_lag(f"sqs:{unique}.fifo", groups=["c", "a", "nothing-sent"])
    assert [(g.group, g.count) for g in named.groups] == [("a", 1), ("c", 5)], "a group not seen is left out"
    top = client.fifo_lag(f"sqs:{unique}.fifo", top=2)
    assert [g.group for g in top.groups] == ["a", "b"], "the two oldest heads"


@pytest.mark.aws
def test_sqs_a_queue_without_groups_is_refused(client, sqs, unique):
    sqs.create_queue(QueueName=unique)
    with pytest.raises(MsgctlError, match="not a FIFO queue"):
        client.fifo_lag(f"sqs:{unique}")
    with pytest.raises(MsgctlError, match="has no message groups"):
        client.fifo_lag(f"sns:{unique}")


@pytest.fixture
def broker(amq):
    with Client(broker=amq) as client:
        yield client


def _send_groups(stomp_conn, destination, sizes, headers):
    """``headers(group)`` on each group's messages, the groups 0.3 s apart; the last send waits for the
    broker's receipt (a connection's frames arrive in order: the broker then has them all). Returns when
    each group's head was sent."""
    head_sent = {}
    frames = [(group, f"{group}-{n}".encode()) for group, size in sizes.items() for n in range(size)]
    *first, (last_group, last_body) = frames
    for group, body in first:
        if group not in head_sent:
            time.sleep(0.3 if head_sent else 0)  # distinct head ages, so the order by age is known
            head_sent[group] = time.time()
        stomp_conn.send(destination, body, headers={"persistent": "true", **headers(group)})
    head_sent.setdefault(last_group, time.time())
    last_headers = {"persistent": "true", **headers(last_group)}
    _confirmed(stomp_conn, lambda h: stomp_conn.send(destination, last_body, headers={**last_headers, **h}))
    return head_sent


def _check_amq(report, sizes, head_sent, measured_at):
    assert [g.group for g in report.groups] == list(sizes), "every group, oldest head first"
    for row in report.groups:
        assert (row.count, row.count_is_lower_bound) == (sizes[row.group], False), row
        assert abs(row.oldest_age_s - (measured_at - head_sent[row.group])) < 3, row
        assert row.state == "waiting"


@pytest.mark.amq
def test_activemq_named_groups_are_counted_by_jmsxgroupid(broker, stomp_conn, unique):
    sizes = {"red": 4, "green": 7, "blue": 2}
    head_sent = _send_groups(stomp_conn, f"/queue/{unique}", sizes, lambda g: {"JMSXGroupID": g})
    _confirmed(stomp_conn, lambda h: stomp_conn.send(f"/queue/{unique}", b"no group", headers=h))
    measured_at = time.time()
    report = broker.fifo_lag(f"amq:queue/{unique}", groups=["blue", "red", "green"])
    _check_amq(report, sizes, head_sent, measured_at)
    assert report.queue["depth"] == 14, "13 in groups and one without"
    again = broker.fifo_lag(f"amq:queue/{unique}", groups=["red"])
    assert [(g.group, g.count) for g in again.groups] == [("red", 4)], "a browse consumed nothing"


@pytest.mark.amq
def test_activemq_groups_by_the_msgctl_group_property(broker, stomp_conn, unique):
    sizes = {"x": 3, "y": 1, "z": 6}
    head_sent = _send_groups(
        stomp_conn, f"/queue/{unique}", sizes, lambda g: {"JMSXGroupID": g, "msgctl_group": g}
    )
    measured_at = time.time()
    report = broker.fifo_lag(f"amq:queue/{unique}")
    _check_amq(report, sizes, head_sent, measured_at)
    assert report.queue["depth"] == 10 and "msgctl_group" in report.queue["measured"]
    assert [g.group for g in broker.fifo_lag(f"amq:queue/{unique}", top=1).groups] == ["x"]


@pytest.mark.amq
def test_activemq_a_topic_is_refused(broker, unique):
    with pytest.raises(MsgctlError, match="is a topic"):
        broker.fifo_lag(f"amq:topic/{unique}")
