"""chain create/show/check/delete on moto server and LocalStack, and virtual topics on ActiveMQ."""

import json
import time

import pytest

from msgctl.errors import ExitCode


def _url(sqs, name):
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def _attributes(sqs, name):
    return sqs.get_queue_attributes(QueueUrl=_url(sqs, name), AttributeNames=["All"])["Attributes"]


def _receive(sqs, name, count, timeout=10.0):
    """Receive and delete until `count` messages came, or the time is up; returns the bodies."""
    url, bodies, deadline = _url(sqs, name), [], time.monotonic() + timeout
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", []):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _topic_arn(sns, name):
    arns = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    return next(arn for arn in arns if arn.endswith(f":{name}"))


def _plan(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_standard_chain_delivers_to_every_queue_and_is_idempotent(invoke, aws_any, unique) -> None:
    sqs, sns = aws_any("sqs"), aws_any("sns")
    queues = [f"sqs:{unique}-a", f"sqs:{unique}-b"]
    dry = _plan(invoke("chain", "create", f"sns:{unique}", *queues, "--dry-run", "-o", "json"))
    assert {row["action"] for row in dry} == {"create"}
    assert not sqs.list_queues(QueueNamePrefix=unique).get("QueueUrls"), "--dry-run creates nothing"

    created = _plan(invoke("chain", "create", f"sns:{unique}", *queues, "-o", "json"))
    assert {row["status"] for row in created} == {"applied"}
    resources = {row["resource"] for row in created}
    assert {
        f"topic sns:{unique}",
        f"dlq sqs:{unique}-a-dlq",
        f"subscription sns:{unique} -> sqs:{unique}-b",
    } <= resources

    again = _plan(invoke("chain", "create", f"sns:{unique}", *queues, "-o", "json"))
    assert {row["action"] for row in again} == {"unchanged"}

    topic_arn = _topic_arn(sns, unique)
    sns.publish(TopicArn=topic_arn, Message="hello chain")
    for name in (f"{unique}-a", f"{unique}-b"):
        assert _receive(sqs, name, 1) == ["hello chain"], "raw delivery: the body as published"
        redrive = json.loads(_attributes(sqs, name)["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{name}-dlq")
        assert int(redrive["maxReceiveCount"]) == 5
        policy = json.loads(_attributes(sqs, name)["Policy"])
        assert policy["Statement"][0]["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}


def test_fifo_chain_keeps_order_per_group(invoke, aws_any, unique) -> None:
    sqs, sns = aws_any("sqs"), aws_any("sns")
    topic, queues = f"sns:{unique}.fifo", [f"sqs:{unique}-a.fifo", f"sqs:{unique}-b.fifo"]
    _plan(invoke("chain", "create", topic, *queues, "--fifo", "--content-based-dedup", "-o", "json"))
    topic_arn = _topic_arn(sns, f"{unique}.fifo")
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["ContentBasedDeduplication"] == "true"
    for n in range(3):  # explicit dedup ids: moto forwards none to the queues for content-based topics
        sns.publish(TopicArn=topic_arn, Message=f"m{n}", MessageGroupId="g1", MessageDeduplicationId=f"d{n}")
    for name in (f"{unique}-a.fifo", f"{unique}-b.fifo"):
        assert _attributes(sqs, name)["FifoQueue"] == "true"
        assert _receive(sqs, name, 3) == ["m0", "m1", "m2"]
    assert {
        r["action"] for r in _plan(invoke("chain", "create", topic, *queues, "--fifo", "-o", "json"))
    } == {"unchanged"}


def test_fifo_names_must_match_on_both_sides(invoke, aws, unique) -> None:
    result = invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}.fifo")
    assert result.exit_code == ExitCode.USAGE
    assert ".fifo" in result.stderr


def test_conflicts_are_reported_field_by_field_and_nothing_changes(invoke, aws, sqs, sns, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "-o", "json"))
    sqs.create_queue(QueueName=f"{unique}-other")
    before = _attributes(sqs, f"{unique}-other")
    result = invoke(
        "chain",
        "create",
        f"sns:{unique}",
        f"sqs:{unique}-other",
        f"sqs:{unique}",
        "--no-raw",
        "--max-receive-count",
        "7",
    )
    assert result.exit_code == ExitCode.USAGE
    assert "raw delivery is on, asked off" in result.stderr
    assert "maxReceiveCount is 5, asked 7" in result.stderr
    assert _attributes(sqs, f"{unique}-other") == before, "the other queue was not touched"
    assert not sqs.list_queues(QueueNamePrefix=f"{unique}-other-dlq").get("QueueUrls")


def test_existing_policy_statements_are_kept(invoke, aws, sqs, unique) -> None:
    keep = {
        "Sid": "keep-me",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "sqs:ReceiveMessage",
        "Resource": "*",
    }
    sqs.create_queue(
        QueueName=unique, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [keep]})}
    )
    plan = _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "-o", "json"))
    assert {"resource": f"policy sqs:{unique}", "action": "update"}.items() <= next(
        r for r in plan if r["resource"] == f"policy sqs:{unique}"
    ).items()
    statements = json.loads(_attributes(sqs, unique)["Policy"])["Statement"]
    assert statements[0] == keep
    assert len(statements) == 2


def test_kms_key_sns_cannot_use_is_refused(invoke, aws, sqs, unique) -> None:
    refused = invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "--kms-key", "alias/aws/sqs")
    assert refused.exit_code == ExitCode.USAGE
    assert "AWS managed key" in refused.stderr
    sqs.create_queue(QueueName=f"{unique}-enc", Attributes={"KmsMasterKeyId": "alias/aws/sqs"})
    conflict = invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-enc")
    assert conflict.exit_code == ExitCode.USAGE
    assert "alias/aws/sqs" in conflict.stderr


@pytest.mark.slow
def test_broken_policy_is_flagged_by_show_and_fails_check(invoke, aws, sqs, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-ok", f"sqs:{unique}-bad", "-o", "json"))
    sqs.set_queue_attributes(QueueUrl=_url(sqs, f"{unique}-bad"), Attributes={"Policy": ""})
    tree = json.loads(invoke("chain", "show", f"sns:{unique}", "-o", "json").stdout)
    problems = {s["channel"]: s["problems"] for s in tree["subscriptions"]}
    assert problems[f"sqs:{unique}-ok"] == []
    assert problems[f"sqs:{unique}-bad"] == [f"queue policy does not allow sns:{unique} to send"]
    table = invoke("chain", "show", f"sns:{unique}")
    assert "✗ queue policy does not allow" in table.stdout
    check = invoke("chain", "check", f"sns:{unique}", "--probe", "--timeout", "5", "-o", "json")
    assert check.exit_code == ExitCode.PARTIAL
    assert f"does not reach: sqs:{unique}-bad" in check.stderr
    assert f"sqs:{unique}-ok" not in check.stderr.split("does not reach:")[1]


def test_show_flags_missing_queue_and_dlq(invoke, aws, sqs, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-a", f"sqs:{unique}-b", "-o", "json"))
    sqs.delete_queue(QueueUrl=_url(sqs, f"{unique}-a"))
    sqs.delete_queue(QueueUrl=_url(sqs, f"{unique}-b-dlq"))
    tree = json.loads(invoke("chain", "show", f"sns:{unique}", "-o", "json").stdout)
    problems = {s["channel"]: s["problems"] for s in tree["subscriptions"]}
    assert problems[f"sqs:{unique}-a"] == ["subscription to a missing queue"]
    assert problems[f"sqs:{unique}-b"] == [f"DLQ sqs:{unique}-b-dlq is missing"]
    assert invoke("chain", "check", f"sns:{unique}").exit_code == ExitCode.PARTIAL


def test_probe_reports_a_filtered_queue_as_filtered(invoke, aws, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-all", "-o", "json"))
    _plan(
        invoke(
            "chain",
            "create",
            f"sns:{unique}",
            f"sqs:{unique}-orders",
            "--filter-policy",
            '{"kind": ["order"]}',
            "-o",
            "json",
        )
    )
    result = invoke("chain", "check", f"sns:{unique}", "--probe", "--timeout", "5", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    outcomes = {row["channel"]: row["result"] for row in json.loads(result.stdout)}
    assert outcomes == {f"sqs:{unique}-all": "delivered", f"sqs:{unique}-orders": "filtered"}


def test_probe_removes_the_canary_and_releases_other_messages(invoke, aws, sqs, sns, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "-o", "json"))
    url = _url(sqs, unique)
    sqs.send_message(QueueUrl=url, MessageBody="real work")
    assert invoke("chain", "check", f"sns:{unique}", "--probe", "--timeout", "5").exit_code == 0
    assert _receive(sqs, unique, 2, timeout=3) == ["real work"], "the canary is gone, the real message back"


def _depths(sqs, name):
    attributes = _attributes(sqs, name)
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.mark.slow
def test_four_probes_stop_before_they_would_push_real_messages_toward_the_dlq(
    invoke, aws_any, unique
) -> None:
    """maxReceiveCount 3: each probe receives every real message once; the third would leave them one receive
    from the DLQ (the fourth would move them there), so it refuses before publishing anything."""
    sqs = aws_any("sqs")
    _plan(
        invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "--max-receive-count", "3", "-o", "json")
    )
    url = _url(sqs, unique)
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"real {n}"} for n in range(3)]
    )
    outcomes = [invoke("chain", "check", f"sns:{unique}", "--probe", "--timeout", "5") for _ in range(4)]
    assert [o.exit_code for o in outcomes] == [0, 0, ExitCode.USAGE, ExitCode.USAGE], [
        o.stderr for o in outcomes
    ]
    assert "3 messages" in outcomes[2].stderr and "--force" in outcomes[2].stderr
    assert _depths(sqs, f"{unique}-dlq") == (0, 0), "nothing reached the DLQ"
    assert _depths(sqs, unique) == (3, 0), "the real messages are back, no canary is left"
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in received) == ["real 0", "real 1", "real 2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in received} == {"3"}, (
        "two probes and this receive"
    )


def test_a_probe_refuses_a_queue_that_dead_letters_after_two_receives(invoke, aws, sqs, unique) -> None:
    _plan(
        invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "--max-receive-count", "2", "-o", "json")
    )
    sqs.send_message(QueueUrl=_url(sqs, unique), MessageBody="real work")
    refused = invoke("chain", "check", f"sns:{unique}", "--probe", "--timeout", "5")
    assert refused.exit_code == ExitCode.USAGE and "after 2 receives" in refused.stderr
    assert _depths(sqs, unique) == (1, 0), "no canary was published"
    forced = invoke("chain", "check", f"sns:{unique}", "--probe", "--timeout", "5", "--force", "-o", "json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)[0]["result"] == "delivered"
    assert _receive(sqs, unique, 1, timeout=3) == ["real work"]


def test_delete_needs_confirmation_and_then_removes_the_chain(invoke, aws, sqs, sns, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-keep", "-o", "json"))
    refused = invoke("chain", "delete", f"sns:{unique}")
    assert refused.exit_code == ExitCode.USAGE
    assert "--yes" in refused.stderr
    assert invoke("chain", "show", f"sns:{unique}").exit_code == 0, "nothing deleted without confirmation"
    deleted = invoke("chain", "delete", f"sns:{unique}", "--yes", "-o", "json")
    assert deleted.exit_code == 0, deleted.stderr
    assert invoke("chain", "show", f"sns:{unique}").exit_code == ExitCode.NOT_FOUND
    assert "Policy" not in _attributes(sqs, f"{unique}-keep") or not json.loads(
        _attributes(sqs, f"{unique}-keep")["Policy"] or "{}"
    ).get("Statement"), "msgctl's grant is removed from the kept queue"


def test_delete_with_queues_removes_queues_and_dlqs(invoke, aws, sqs, unique) -> None:
    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}", "-o", "json"))
    assert invoke("chain", "delete", f"sns:{unique}", "--with-queues", "--yes").exit_code == 0
    assert not sqs.list_queues(QueueNamePrefix=unique).get("QueueUrls")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_apply_creates_the_chains_of_a_file_and_prunes(
    invoke, aws, sqs, sns, unique, tmp_path, suffix
) -> None:
    path = tmp_path / f"chains{suffix}"
    if suffix == ".toml":
        path.write_text(
            f'[[chains]]\ntopic = "sns:{unique}"\nqueues = ["sqs:{unique}-a", '
            f'{{ channel = "sqs:{unique}-b", filter_policy = {{ kind = ["refund"] }}, raw = false }}]\n'
        )
    else:
        path.write_text(
            f"chains:\n  - topic: sns:{unique}\n    queues:\n      - sqs:{unique}-a\n"
            f"      - channel: sqs:{unique}-b\n"
            f"        filter_policy: {{kind: [refund]}}\n        raw: false\n"
        )
    _plan(invoke("chain", "apply", "-f", str(path), "-o", "json"))
    tree = json.loads(invoke("chain", "show", f"sns:{unique}", "-o", "json").stdout)
    links = {s["channel"]: s for s in tree["subscriptions"]}
    assert links[f"sqs:{unique}-b"]["filter_policy"] == {"kind": ["refund"]}
    assert links[f"sqs:{unique}-b"]["raw"] is False and links[f"sqs:{unique}-a"]["raw"] is True
    assert {r["action"] for r in _plan(invoke("chain", "apply", "-f", str(path), "-o", "json"))} == {
        "unchanged"
    }

    _plan(invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-extra", "-o", "json"))
    assert invoke("chain", "apply", "-f", str(path), "--prune").exit_code == ExitCode.USAGE, "needs --yes"
    pruned = _plan(invoke("chain", "apply", "-f", str(path), "--prune", "--yes", "-o", "json"))
    assert [r["resource"] for r in pruned if r["action"] == "delete"] == [
        f"subscription sns:{unique} -> arn:aws:sqs:us-east-1:123456789012:{unique}-extra"
    ]
    tree = json.loads(invoke("chain", "show", f"sns:{unique}", "-o", "json").stdout)
    assert sorted(s["channel"] for s in tree["subscriptions"]) == [f"sqs:{unique}-a", f"sqs:{unique}-b"]


def test_bad_chain_file_is_a_usage_error(invoke, tmp_path) -> None:
    path = tmp_path / "chains.toml"
    path.write_text('[[chains]]\ntopic = "sns:x"\nqueues = []\n')
    result = invoke("chain", "apply", "-f", str(path))
    assert result.exit_code == ExitCode.USAGE
    assert "needs 'queues'" in result.stderr


def test_virtual_topic_chain_reaches_every_consumer_queue(invoke, amq, stomp_conn, unique) -> None:
    topic = f"amq:topic/VirtualTopic.{unique}"
    created = _plan(invoke("chain", "create", topic, "amq:queue/billing", "amq:queue/shipping", "-o", "json"))
    consumer_queues = [f"Consumer.billing.VirtualTopic.{unique}", f"Consumer.shipping.VirtualTopic.{unique}"]
    assert [r["resource"] for r in created][1:] == [f"queue amq:queue/{q}" for q in consumer_queues]
    again = _plan(invoke("chain", "create", topic, "amq:queue/billing", "amq:queue/shipping", "-o", "json"))
    assert {r["action"] for r in again if r["resource"].startswith("queue")} == {"unchanged"}

    stomp_conn.send(f"/topic/VirtualTopic.{unique}", b"fan out", headers={"persistent": "true"})
    deadline = time.monotonic() + 10
    while True:  # delivery to the consumer queues is asynchronous: poll their depth
        tree = json.loads(invoke("chain", "show", topic, "-o", "json").stdout)
        depths = {s["channel"]: s["queue"]["depth"] for s in tree["subscriptions"]}
        if set(depths.values()) == {1} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert depths == {f"amq:queue/{q}": 1 for q in consumer_queues}

    check = invoke("chain", "check", topic, "--probe", "--timeout", "5", "-o", "json")
    assert check.exit_code == 0, check.stdout + check.stderr
    assert {r["result"] for r in json.loads(check.stdout)} == {"delivered"}
    tree = json.loads(invoke("chain", "show", topic, "-o", "json").stdout)
    assert {s["queue"]["depth"] for s in tree["subscriptions"]} == {1}, "the canary was taken back"


def test_virtual_topic_refuses_aws_options_and_delete(invoke, amq, unique) -> None:
    result = invoke("chain", "create", f"amq:topic/VirtualTopic.{unique}", "amq:queue/a", "--fifo")
    assert result.exit_code == ExitCode.USAGE
    assert "--fifo" in result.stderr
    _plan(invoke("chain", "create", f"amq:topic/VirtualTopic.{unique}", "amq:queue/a", "-o", "json"))
    deleted = invoke("chain", "delete", f"amq:topic/VirtualTopic.{unique}", "--yes")
    assert deleted.exit_code == ExitCode.FAILED
    assert "cannot delete destinations over STOMP" in deleted.stderr


def test_missing_topic_exits_4(invoke, aws, unique) -> None:
    assert invoke("chain", "show", f"sns:{unique}").exit_code == ExitCode.NOT_FOUND
    assert invoke("chain", "check", f"sns:{unique}").exit_code == ExitCode.NOT_FOUND


@pytest.mark.slow
def test_chains_sharing_a_queue_in_one_file_both_keep_their_grant(invoke, aws, unique, tmp_path) -> None:
    path = tmp_path / "shared.toml"
    path.write_text(
        f'[[chains]]\ntopic = "sns:{unique}-a"\nqueues = ["sqs:{unique}"]\n'
        f'[[chains]]\ntopic = "sns:{unique}-b"\nqueues = ["sqs:{unique}"]\n'
    )
    _plan(invoke("chain", "apply", "-f", str(path), "-o", "json"))
    for topic in (f"sns:{unique}-a", f"sns:{unique}-b"):
        assert invoke("chain", "check", topic).exit_code == 0, topic
    again = _plan(invoke("chain", "apply", "-f", str(path), "-o", "json"))
    assert {row["action"] for row in again} == {"unchanged"}


def test_an_invalid_filter_policy_stops_create_before_anything_exists(invoke, aws, sqs, unique) -> None:
    result = invoke(
        "chain", "create", f"sns:{unique}", f"sqs:{unique}", "--filter-policy", '{"kind": "order"}'
    )
    assert result.exit_code == ExitCode.USAGE
    assert "$.kind" in result.stderr
    assert not sqs.list_queues(QueueNamePrefix=unique).get("QueueUrls")


def test_a_queue_in_another_account_is_never_deleted_in_its_place(invoke, aws, sqs, sns, unique) -> None:
    topic_arn = sns.create_topic(Name=unique)["TopicArn"]
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:111111111111:{unique}")
    tree = json.loads(invoke("chain", "show", f"sns:{unique}", "-o", "json").stdout)
    assert "another account or region" in tree["subscriptions"][0]["warnings"][0]
    assert invoke("chain", "delete", f"sns:{unique}", "--with-queues", "--yes").exit_code == 0
    assert sqs.list_queues(QueueNamePrefix=unique).get("QueueUrls") == [url], "the local queue is still there"
    assert sqs.get_queue_url(QueueName=unique)["QueueUrl"] == url


def test_virtual_topic_consumer_names_cannot_have_dots(invoke, amq, unique) -> None:
    result = invoke("chain", "create", f"amq:topic/VirtualTopic.{unique}", "amq:queue/billing.eu")
    assert result.exit_code == ExitCode.USAGE
    assert "cannot contain '.'" in result.stderr


def test_bundled_short_flags_reach_the_command(invoke, aws, unique) -> None:
    result = invoke("-qo", "json", "filter", "lint", '{"a": ["x"]}')
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"valid": True, "problems": []}
