"""msgctl check on LocalStack and ActiveMQ: thresholds from flags, the config file and tags give each check
its status, and every output format its exit code."""

import json
import time
from datetime import UTC, datetime

import pytest

from msgctl.core.health import Measure, ThresholdRules, Thresholds, assess, worst
from msgctl.errors import UsageError
from tests.helpers import boto3_client


def checked(invoke, *args, code=None):
    result = invoke("check", *args, "-o", "json")
    if code is not None:
        assert result.exit_code == code, result.stdout + result.stderr
    return {entry["channel"]: entry for entry in json.loads(result.stdout)}, result.exit_code


def check_of(entry, name):
    [found] = [check for check in entry["checks"] if check["name"] == name]
    return found


# Thresholds and statuses, without a broker ------------------------------------------------------------


def test_thresholds_layer_defaults_config_prefix_channel_tags_and_flags():
    rules = ThresholdRules.parse(
        {
            "depth-warn": 100,
            "age-crit": "15m",
            "sqs:orders-*": {"depth-warn": 50, "depth-crit": 500},
            "sqs:orders-billing*": {"depth-warn": 20},
            "sqs:orders-billing": {"dlq-crit": 3},
        },
        "config file c.toml",
    )
    assert rules.for_channel("sqs:payments") == Thresholds(depth_warn=100, age_crit=900.0)
    assert rules.for_channel("sqs:orders-x").depth_warn == 50
    billing = rules.for_channel("sqs:orders-billing")
    assert (billing.depth_warn, billing.depth_crit, billing.dlq_crit) == (20, 500, 3)
    tags = {"msgctl:depth-warn": "40", "team": "x"}
    measure = Measure("sqs:orders-billing", "queue", depth=30, oldest_age_s=10.0, tags=tags)
    assert assess(measure, rules, Thresholds()).status == "ok", "the tag (40) beats the config (20)"
    assert assess(measure, rules, Thresholds(depth_warn=25)).status == "warning", "the flag beats the tag"
    assert assess(measure, rules, Thresholds(depth_crit=30)).status == "critical"


def test_a_bad_tag_leaves_the_other_levels_and_a_dlq_has_no_consumer_check():
    tags = {"msgctl:depth-crit": "lots", "msgctl:depth-warn": "5"}
    health = assess(
        Measure("sqs:a", "queue", depth=10**6, oldest_age_s=1.0, tags=tags), ThresholdRules(), Thresholds()
    )
    by_name = {check.name: check for check in health.checks}
    assert by_name["depth"].status == "warning" and by_name["thresholds"].status == "unknown"
    assert "depth-crit must be a whole number" in by_name["thresholds"].note and health.status == "unknown"
    flagged = assess(
        Measure("sqs:a", "queue", depth=10**6, oldest_age_s=1.0, tags=tags),
        ThresholdRules(),
        Thresholds(depth_crit=10),
    )
    assert flagged.status == "critical", "the flag still decides"
    dlq = Measure("amq:queue/DLQ.a", "queue", depth=0, dlq_depth=0, is_dlq=True, consumers=0)
    assert assess(dlq, ThresholdRules(), Thresholds(consumers_min=1)).status == "ok", "nobody consumes a DLQ"
    shared = Measure(
        "amq:queue/b", "queue", depth=0, dlq="amq:queue/ActiveMQ.DLQ", dlq_depth=7, dlq_shared=True
    )
    assert assess(shared, ThresholdRules(), Thresholds(dlq_crit=1)).status == "ok", (
        "checked on the DLQ's own entry"
    )


def test_bad_thresholds_are_named():
    with pytest.raises(UsageError, match=r"\[check\]: unknown threshold 'depth-warning'"):
        ThresholdRules.parse({"depth-warning": 1}, "config file c.toml")
    with pytest.raises(UsageError, match="age-crit must be a duration"):
        ThresholdRules.parse({"sqs:a": {"age-crit": [1]}}, "config file c.toml")
    with pytest.raises(UsageError, match="age-warn must be a duration of 0 or more"):
        ThresholdRules.parse({"age-warn": float("nan")}, "config file c.toml")


def test_statuses_by_check_and_the_worst_wins():
    rules, flags = ThresholdRules(), Thresholds(age_warn=60, age_crit=600, consumers_min=1)
    old = assess(Measure("amq:queue/a", "queue", depth=3, oldest_age_s=700, consumers=1), rules, flags)
    assert old.status == "critical" and check_of(old.to_json(), "oldest_age_s")["crit"] == 600
    unread = assess(Measure("sqs:b", "queue", depth=3, notes={"oldest_age_s": "no metric"}), rules, flags)
    assert unread.status == "unknown" and check_of(unread.to_json(), "oldest_age_s")["note"] == "no metric"
    empty = assess(Measure("sqs:c", "queue", depth=0, in_flight=0), rules, flags)
    assert empty.status == "ok", "an empty queue has no oldest message to be late"
    alone = assess(Measure("amq:queue/d", "queue", depth=0, consumers=0), rules, flags)
    assert alone.status == "critical"
    dlq = assess(Measure("sqs:e-dlq", "queue", depth=1, dlq_depth=1, is_dlq=True), rules, Thresholds())
    assert dlq.status == "warning", "by default a DLQ holding anything is a warning"
    assert worst(["ok", "warning", "unknown"]) == "unknown" and worst(["unknown", "critical"]) == "critical"


def test_prometheus_labels_keep_quotes_backslashes_and_newlines():
    from prometheus_client.parser import text_string_to_metric_families

    from msgctl.api.health import HealthReport
    from msgctl.render.health import prometheus

    odd = 'amq:queue/a"b\\c\nd'
    report = HealthReport([assess(Measure(odd, "queue", depth=7), ThresholdRules(), Thresholds())])
    samples = {
        (family.name, sample.labels["channel"]): sample.value
        for family in text_string_to_metric_families(prometheus(report))
        for sample in family.samples
    }
    assert samples[("msgctl_depth", odd)] == 7 and samples[("msgctl_check_status", odd)] == 0


# SQS and SNS on LocalStack ---------------------------------------------------------------------------


@pytest.fixture
def queues(localstack, unique):
    """{unique}-orders (5 waiting, tagged msgctl:depth-warn=3) dead-lettering to {unique}-orders-dlq (1),
    and {unique}-idle (empty)."""
    sqs = localstack
    dlq = sqs.create_queue(QueueName=f"{unique}-orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    orders = sqs.create_queue(
        QueueName=f"{unique}-orders",
        Attributes={"RedrivePolicy": redrive},
        tags={"msgctl:depth-warn": "3", "team": "payments"},
    )["QueueUrl"]
    sqs.create_queue(QueueName=f"{unique}-idle")
    for n in range(5):
        sqs.send_message(QueueUrl=orders, MessageBody=f"order {n}")
    sqs.send_message(QueueUrl=dlq, MessageBody="dead")
    return sqs


def test_tags_config_and_flags_set_each_status_and_the_exit_code(
    invoke, queues, unique, tmp_path, monkeypatch
):
    found, code = checked(invoke, "--prefix", unique)
    orders, dlq, idle = (found[f"sqs:{unique}-{name}"] for name in ("orders", "orders-dlq", "idle"))
    assert set(found) == {f"sqs:{unique}-{name}" for name in ("orders", "orders-dlq", "idle")}
    assert check_of(orders, "depth") == {
        "name": "depth",
        "value": 5,
        "warn": 3,
        "crit": None,
        "status": "warning",
    }
    assert check_of(orders, "dlq_depth")["value"] == 1 and check_of(dlq, "dlq_depth")["value"] == 1
    assert (orders["status"], dlq["status"], idle["status"], code) == ("warning", "warning", "ok", 1)

    config = tmp_path / "msgctl.toml"
    config.write_text(f'[check]\ndlq-warn = 5\n[check."sqs:{unique}-orders"]\ndepth-crit = 5\n')
    monkeypatch.setenv("MSGCTL_CONFIG", str(config))
    found, code = checked(invoke, "--prefix", unique)
    orders = found[f"sqs:{unique}-orders"]
    assert check_of(orders, "depth")["status"] == "critical" and code == 2
    assert found[f"sqs:{unique}-orders-dlq"]["status"] == "ok", "the config's dlq-warn 5 is above 1"

    found, code = checked(invoke, f"sqs:{unique}-orders-dlq", "--dlq-crit", "1")
    assert found[f"sqs:{unique}-orders-dlq"]["status"] == "critical" and code == 2
    found, code = checked(invoke, "--prefix", f"{unique}-orders-dlq", "--dlq-crit", "1")
    assert code == 2, "by prefix too, its source queue not among those checked, it is judged as a DLQ"
    found, code = checked(invoke, f"sqs:{unique}-idle", "--depth-warn", "1")
    assert code == 0 and found[f"sqs:{unique}-idle"]["status"] == "ok"


def test_nagios_and_prometheus_outputs(invoke, queues, unique):
    from prometheus_client.parser import text_string_to_metric_families

    nagios = invoke("check", "--prefix", unique, "--dlq-crit", "1", "-o", "nagios")
    line = nagios.stdout.strip()
    assert nagios.exit_code == 2 and len(line.splitlines()) == 1, nagios.stdout + nagios.stderr
    assert line.startswith("MSGCTL CRITICAL - 2 critical, 1 ok: ")
    assert f"sqs:{unique}-orders-dlq dlq_depth 1 >= 1" in line
    perfdata = line.split(" | ", 1)[1]
    assert f"'sqs:{unique}-orders depth'=5;2;;0" in perfdata, "Nagios's range 2 alerts above 2: at 3"
    assert f"'sqs:{unique}-orders-dlq dlq_depth'=1;0;0;0" in perfdata

    scraped = invoke("check", "--prefix", unique, "--dlq-crit", "1", "-o", "prometheus")
    assert scraped.exit_code == 0, scraped.stderr
    samples = {
        (family.name, sample.labels["channel"]): sample.value
        for family in text_string_to_metric_families(scraped.stdout)
        for sample in family.samples
    }
    assert samples[("msgctl_depth", f"sqs:{unique}-orders")] == 5
    assert samples[("msgctl_dlq_depth", f"sqs:{unique}-orders")] == 1
    assert samples[("msgctl_check_status", f"sqs:{unique}-orders-dlq")] == 2
    assert samples[("msgctl_check_status", f"sqs:{unique}-idle")] == 0
    assert "# TYPE msgctl_oldest_age_seconds gauge" in scraped.stdout


def test_the_age_comes_from_cloudwatch_and_is_unknown_without_it(invoke, queues, localstack_endpoint, unique):
    cloudwatch = boto3_client("cloudwatch", localstack_endpoint)
    cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": f"{unique}-orders"}],
                "Timestamp": datetime.now(UTC),
                "Value": 700.0,
                "Unit": "Seconds",
            }
        ],
    )
    found, code = checked(invoke, f"sqs:{unique}-orders", "--age-crit", "10m", "--depth-warn", "10")
    age = check_of(found[f"sqs:{unique}-orders"], "oldest_age_s")
    assert (age["value"], age["status"], code) == (700.0, "critical", 2)
    queues.create_queue(QueueName=f"{unique}-quiet")
    queues.send_message(
        QueueUrl=queues.get_queue_url(QueueName=f"{unique}-quiet")["QueueUrl"], MessageBody="x"
    )
    found, code = checked(invoke, f"sqs:{unique}-quiet", "--age-warn", "1m")
    age = check_of(found[f"sqs:{unique}-quiet"], "oldest_age_s")
    assert age["value"] is None and age["status"] == "unknown" and "CloudWatch" in age["note"] and code == 3


def test_queues_of_one_name_in_two_regions_are_two_channels_each_with_its_dlq_and_age(
    invoke, localstack, localstack_endpoint, unique
):
    import boto3

    arns = {}
    for region, waiting, dead, age in (("us-east-1", 1, 0, 30.0), ("eu-west-1", 3, 2, 900.0)):

        def client(service, region=region):
            return boto3.client(
                service, endpoint_url=localstack_endpoint, region_name=region,
                aws_access_key_id="testing", aws_secret_access_key="testing-secret",
            )  # fmt: skip

        sqs = client("sqs")
        dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
        url = sqs.create_queue(QueueName=unique, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
        arns[region] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for n in range(waiting):
            sqs.send_message(QueueUrl=url, MessageBody=f"waiting {n}")
        for n in range(dead):
            sqs.send_message(QueueUrl=dlq, MessageBody=f"dead {n}")
        dimensions = [{"Name": "QueueName", "Value": unique}]
        client("cloudwatch").put_metric_data(
            Namespace="AWS/SQS",
            MetricData=[{"MetricName": "ApproximateAgeOfOldestMessage", "Dimensions": dimensions,
                         "Timestamp": datetime.now(UTC), "Value": age, "Unit": "Seconds"}],
        )  # fmt: skip
    found, _ = checked(invoke, arns["eu-west-1"], arns["us-east-1"], f"sqs:{unique}", "--dlq-warn", "100")
    assert set(found) == {arns["eu-west-1"], arns["us-east-1"], f"sqs:{unique}"}
    values = {channel: {c["name"]: c["value"] for c in entry["checks"]} for channel, entry in found.items()}
    assert values[arns["eu-west-1"]] == {"depth": 3, "oldest_age_s": 900.0, "dlq_depth": 2}
    stats = invoke("stats", arns["eu-west-1"], "-o", "json")
    assert json.loads(stats.stdout)["oldest_age_s"] == 900.0, "stats asks that region's CloudWatch too"
    assert (
        values[arns["us-east-1"]]
        == values[f"sqs:{unique}"]
        == {"depth": 1, "oldest_age_s": 30.0, "dlq_depth": 0}
    )


def test_a_move_task_that_failed_is_a_warning_naming_why(invoke, localstack, unique):
    # LocalStack fails a move task whose destination is deleted while it runs (1 message a second).
    sqs = localstack
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    sqs.create_queue(QueueName=unique, Attributes={"RedrivePolicy": redrive})
    destination = sqs.create_queue(QueueName=f"{unique}-elsewhere")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=destination, AttributeNames=["QueueArn"])["Attributes"]
    for n in range(20):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"dead {n}")
    found, _ = checked(invoke, f"sqs:{unique}-dlq", "--dlq-warn", "100")
    assert [c["name"] for c in found[f"sqs:{unique}-dlq"]["checks"]] == ["dlq_depth"], "no move task yet"
    sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=attributes["QueueArn"], MaxNumberOfMessagesPerSecond=1
    )
    sqs.delete_queue(QueueUrl=destination)
    deadline = time.monotonic() + 30
    while sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] != "FAILED":
        assert time.monotonic() < deadline, "LocalStack did not fail the move task"
        time.sleep(0.2)
    found, code = checked(invoke, f"sqs:{unique}-dlq", "--dlq-warn", "100")
    move = check_of(found[f"sqs:{unique}-dlq"], "move_task")
    assert (move["status"], code) == ("warning", 1)
    assert move["note"] == f"the last move task (to sqs:{unique}-elsewhere) failed: QueueDoesNotExist"


def test_a_subscription_to_a_deleted_queue_is_critical(invoke, localstack, localstack_endpoint, unique):
    sns = boto3_client("sns", localstack_endpoint)
    topic = sns.create_topic(Name=unique)["TopicArn"]
    for name in ("kept", "gone"):
        url = localstack.create_queue(QueueName=f"{unique}-{name}")["QueueUrl"]
        arn = localstack.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    localstack.delete_queue(QueueUrl=localstack.get_queue_url(QueueName=f"{unique}-gone")["QueueUrl"])
    found, code = checked(invoke, f"sns:{unique}")
    subscriptions = check_of(found[f"sns:{unique}"], "subscriptions")
    assert (subscriptions["value"], subscriptions["status"], code) == (1, "critical", 2)
    assert f"sqs:{unique}-gone does not exist" in subscriptions["note"]


def test_a_subscription_pending_confirmation_is_a_warning(invoke, localstack, localstack_endpoint, unique):
    sns = boto3_client("sns", localstack_endpoint)
    topic = sns.create_topic(Name=unique)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/hook")  # never confirmed
    found, code = checked(invoke, f"sns:{unique}")
    subscriptions = check_of(found[f"sns:{unique}"], "subscriptions")
    assert (subscriptions["value"], subscriptions["status"], code) == (1, "warning", 1)
    assert "http://127.0.0.1:9/hook is pending confirmation" in subscriptions["note"]


def test_a_channel_that_does_not_exist_is_unknown(invoke, localstack, unique):
    found, code = checked(invoke, f"sqs:{unique}-nope")
    assert code == 3 and found[f"sqs:{unique}-nope"]["status"] == "unknown"
    assert "does not exist" in found[f"sqs:{unique}-nope"]["checks"][0]["note"]


# ActiveMQ ---------------------------------------------------------------------------------------------


def test_an_activemq_queue_without_consumers_fails_consumers_min(invoke, amq, stomp_conn, unique):
    stomp_conn.send(f"/queue/{unique}", b"waiting", headers={"persistent": "true"})
    stomp_conn.send(f"/queue/DLQ.{unique}", b"dead", headers={"persistent": "true"})
    channel = f"amq:queue/{unique}"
    deadline = time.monotonic() + 10
    while True:  # the statistics plugin sees a send a moment later
        found, code = checked(invoke, channel, "--consumers-min", "1", "--dlq-crit", "1")
        depths = [c["value"] for c in found[channel]["checks"] if c["name"] == "depth"]
        if depths == [1] or time.monotonic() > deadline:
            break
    entry = found[channel]
    assert check_of(entry, "consumers") == {
        "name": "consumers",
        "value": 0,
        "warn": None,
        "crit": 1,
        "status": "critical",
    }
    assert check_of(entry, "dlq_depth")["value"] == 1 and check_of(entry, "oldest_age_s")["value"] >= 0
    assert code == 2

    stomp_conn.subscribe(f"/queue/{unique}.other", id="watcher", ack="client-individual")
    found, code = checked(invoke, f"amq:queue/{unique}.other", "--consumers-min", "1")
    assert code == 0 and check_of(found[f"amq:queue/{unique}.other"], "consumers")["value"] == 1
    stomp_conn.unsubscribe(id="watcher")


def test_a_broker_that_is_down_is_unknown_not_a_traceback(invoke, monkeypatch, unique):
    monkeypatch.setenv("MSGCTL_BROKER", "stomp://127.0.0.1:9")
    found, code = checked(invoke, f"amq:queue/{unique}")
    assert code == 3 and found[f"amq:queue/{unique}"]["status"] == "unknown"
    assert "127.0.0.1:9" in found[f"amq:queue/{unique}"]["checks"][0]["note"]
    nagios = invoke("check", f"amq:queue/{unique}", "-o", "nagios")
    assert nagios.exit_code == 3 and nagios.stdout.startswith("MSGCTL UNKNOWN - ")
    bad = invoke("check", "sqs:a", "--depth-warn", "10", "--depth-crit", "5", "-o", "nagios")
    assert bad.exit_code == 3 and "--depth-warn is above --depth-crit" in bad.stdout
    table = invoke("check", "sqs:a", "--depth-warn", "10", "--depth-crit", "5")
    assert table.exit_code == 3, "a check that cannot run is unknown in every format"


def test_an_aws_endpoint_that_is_down_is_unknown_per_service(invoke, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("MSGCTL_BROKER", raising=False)
    found, code = checked(invoke)
    assert code == 3 and set(found) == {"sqs:*", "sns:*"}
    for service in ("sqs:*", "sns:*"):
        [reachable] = found[service]["checks"]
        assert reachable["status"] == "unknown" and "cannot reach http://127.0.0.1:9" in reachable["note"]


def test_nothing_to_check_is_unknown(invoke, localstack, unique):
    found, code = checked(invoke, "--prefix", f"{unique}-none-")
    assert code == 3 and "no channel with the prefix" in found["*"]["checks"][0]["note"]


def test_peek_reads_the_age_by_tails_rules_and_leaves_the_messages(invoke, localstack, unique):
    sqs = localstack
    url = sqs.create_queue(QueueName=f"{unique}-peeked")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    time.sleep(1.1)  # the age to find is at least this (whole seconds of SentTimestamp)
    found, code = checked(invoke, f"sqs:{unique}-peeked", "--age-warn", "1h", "--peek")
    age = check_of(found[f"sqs:{unique}-peeked"], "oldest_age_s")
    assert code == 0 and age["status"] == "ok" and 1.0 <= age["value"] < 60, age
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == (
        "3",
        "0",
    )

    dlq = sqs.create_queue(QueueName=f"{unique}-strict-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    strict = sqs.create_queue(
        QueueName=f"{unique}-strict",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=strict, MessageBody="fragile")
    found, code = checked(invoke, f"sqs:{unique}-strict", "--age-warn", "1h", "--peek")
    age = check_of(found[f"sqs:{unique}-strict"], "oldest_age_s")
    assert code == 3 and age["status"] == "unknown" and "after 2 receives" in age["note"], age
    counts = sqs.get_queue_attributes(QueueUrl=strict, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == (
        "1",
        "0",
    )
