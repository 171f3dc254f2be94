"""Client.chains: create, apply, show, check and delete from Python, on the moto server and ActiveMQ."""

import json

import pytest

from msgctl import Client, MsgctlError
from msgctl.address import parse_channel
from msgctl.api.chains import Chains
from msgctl.core.chains import ChainCheck, ChainPlan, ChainSpec, ChainTree, ConflictError, QueueSpec
from msgctl.errors import ExitCode, NotFoundError, UsageError


@pytest.fixture
def client(aws):
    warnings: list[str] = []
    with Client(on_warning=warnings.append) as client:
        yield client
    assert warnings == [], "none of these calls has anything to warn about"


@pytest.fixture
def amq_client(amq):
    with Client() as client:
        yield client


def _queue_names(sqs, prefix):
    return sorted(
        url.rsplit("/", 1)[1] for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    )


def _subscription_attributes(sns, topic_arn):
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    return {
        sub["Endpoint"].rsplit(":", 1)[1]: sns.get_subscription_attributes(
            SubscriptionArn=sub["SubscriptionArn"]
        )["Attributes"]
        for sub in subscriptions
    }


def test_client_chains_is_one_chains_object() -> None:
    with Client() as client:
        assert isinstance(client.chains, Chains)
        assert client.chains is client.chains
        assert client.chains.backends is client.backends


@pytest.mark.aws
def test_create_takes_strings_channels_a_policy_dict_and_tags(client, sqs, sns, unique) -> None:
    plan = client.chains.create(
        f"sns:{unique}",
        [f"sqs:{unique}-a", parse_channel(f"sqs:{unique}-b")],
        filter_policy={"kind": ["order"]},
        tags={"team": "ops"},
    )
    assert isinstance(plan, ChainPlan)
    assert {c.status for c in plan.pending} == {"applied"}
    assert {c.resource for c in plan.changes} >= {
        f"topic sns:{unique}",
        f"dlq sqs:{unique}-a-dlq",
        f"subscription sns:{unique} -> sqs:{unique}-b",
    }
    assert _queue_names(sqs, unique) == [f"{unique}-a", f"{unique}-a-dlq", f"{unique}-b", f"{unique}-b-dlq"]
    topic_arn = sns.create_topic(Name=unique)["TopicArn"]  # idempotent: the existing topic's ARN
    attributes = _subscription_attributes(sns, topic_arn)
    assert {name: json.loads(a["FilterPolicy"]) for name, a in attributes.items()} == {
        f"{unique}-a": {"kind": ["order"]},
        f"{unique}-b": {"kind": ["order"]},
    }
    url = sqs.get_queue_url(QueueName=f"{unique}-a")["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "ops"}

    again = client.chains.create(
        f"sns:{unique}",
        [f"sqs:{unique}-a", f"sqs:{unique}-b"],
        filter_policy='{"kind": ["order"]}',
        tags={"team": "ops"},
    )
    assert again.pending == [], "the same chain with the policy as JSON text changes nothing"


@pytest.mark.aws
def test_dry_run_returns_the_plan_and_creates_nothing(client, sqs, unique) -> None:
    plan = client.chains.create(f"sns:{unique}", [f"sqs:{unique}"], dry_run=True)
    assert {c.action for c in plan.changes} == {"create"}
    assert {c.status for c in plan.changes} == {"planned"}
    assert _queue_names(sqs, unique) == []


@pytest.mark.aws
def test_an_invalid_policy_dict_is_a_usage_error_before_anything_exists(client, sqs, unique) -> None:
    with pytest.raises(UsageError) as info:
        client.chains.create(f"sns:{unique}", [f"sqs:{unique}"], filter_policy={"kind": "order"})
    assert info.value.exit_code == ExitCode.USAGE
    assert "$.kind" in str(info.value)
    assert _queue_names(sqs, unique) == []


@pytest.mark.aws
def test_a_conflict_raises_before_anything_changes(client, unique) -> None:
    client.chains.create(f"sns:{unique}", [f"sqs:{unique}"], raw=False)
    with pytest.raises(ConflictError) as info:
        client.chains.create(f"sns:{unique}", [f"sqs:{unique}"])
    assert [(c.field, c.existing, c.wanted) for c in info.value.conflicts] == [("raw delivery", "off", "on")]
    assert client.chains.show(f"sns:{unique}").links[0].raw is False


@pytest.mark.aws
def test_show_and_check_return_the_tree_and_the_probe_results(client, sqs, unique) -> None:
    client.chains.create(f"sns:{unique}", [f"sqs:{unique}-a", f"sqs:{unique}-b"])
    tree = client.chains.show(parse_channel(f"sns:{unique}"))
    assert isinstance(tree, ChainTree)
    assert sorted(link.channel for link in tree.links) == [f"sqs:{unique}-a", f"sqs:{unique}-b"]
    assert {link.dlq for link in tree.links} == {f"sqs:{unique}-a-dlq", f"sqs:{unique}-b-dlq"}

    static = client.chains.check(f"sns:{unique}")
    assert isinstance(static, ChainCheck)
    assert static.probes == [] and static.exit_code == ExitCode.OK
    assert sorted((r.channel, r.result) for r in static.rows) == [
        (f"sqs:{unique}-a", "ok"),
        (f"sqs:{unique}-b", "ok"),
    ]

    probed = client.chains.check(f"sns:{unique}", probe=True, timeout=5)
    assert [(p.channel, p.outcome) for p in probed.probes] == [
        (f"sqs:{unique}-a", "delivered"),
        (f"sqs:{unique}-b", "delivered"),
    ]
    assert probed.exit_code == ExitCode.OK and probed.unreachable == []
    url = sqs.get_queue_url(QueueName=f"{unique}-a")["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0), "the canary was taken back"

    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=f"{unique}-b")["QueueUrl"])
    broken = client.chains.check(f"sns:{unique}")
    assert broken.exit_code == ExitCode.PARTIAL
    assert broken.unreachable == [f"sqs:{unique}-b"]
    assert [(r.result, r.detail) for r in broken.rows] == [("broken", "subscription to a missing queue")]


@pytest.mark.aws
def test_show_and_check_name_what_is_wrong(client, unique) -> None:
    with pytest.raises(UsageError, match="is not a topic"):
        client.chains.show(f"sqs:{unique}")
    with pytest.raises(NotFoundError):
        client.chains.check(f"sns:{unique}")


@pytest.mark.aws
def test_delete_shows_the_plan_then_asks_the_confirm_callback(client, sqs, unique) -> None:
    client.chains.create(f"sns:{unique}", [f"sqs:{unique}"])
    shown: list[ChainPlan] = []
    asked: list[str] = []

    def decline(question: str) -> bool:
        asked.append(question)
        return False

    with pytest.raises(UsageError, match="deleting: declined; nothing changed"):
        client.chains.delete(f"sns:{unique}", with_queues=True, confirm=decline, on_plan=shown.append)
    assert [(c.resource, c.action) for c in shown[0].pending] == [
        (f"subscription sns:{unique} -> sqs:{unique}", "delete"),
        (f"queue sqs:{unique}", "delete"),
        (f"dlq sqs:{unique}-dlq", "delete"),
        (f"topic sns:{unique}", "delete"),
    ]
    assert asked == ["delete 4 resources?"]
    assert client.chains.show(f"sns:{unique}").links, "nothing deleted when the callback says no"
    assert _queue_names(sqs, unique) == [unique, f"{unique}-dlq"]

    dry = client.chains.delete(
        f"sns:{unique}", with_queues=True, dry_run=True, confirm=decline, on_plan=shown.append
    )
    assert (len(shown), len(asked)) == (1, 1), "a dry run shows and asks nothing"
    assert {c.status for c in dry.changes} == {"planned"}

    deleted = client.chains.delete(f"sns:{unique}", with_queues=True, confirm=lambda question: True)
    assert {c.status for c in deleted.changes} == {"applied"}
    assert _queue_names(sqs, unique) == []
    with pytest.raises(NotFoundError):
        client.chains.show(f"sns:{unique}")


@pytest.mark.aws
def test_apply_takes_specs_or_a_file_and_prunes_only_when_confirmed(client, unique, tmp_path) -> None:
    spec = ChainSpec(parse_channel(f"sns:{unique}"), (QueueSpec(parse_channel(f"sqs:{unique}-a")),))
    applied = client.chains.apply([spec])
    assert {c.status for c in applied.pending} == {"applied"}
    client.chains.create(f"sns:{unique}", [f"sqs:{unique}-extra"])

    path = tmp_path / "chains.toml"
    path.write_text(f'[[chains]]\ntopic = "sns:{unique}"\nqueues = ["sqs:{unique}-a"]\n')
    assert client.chains.apply(path).pending == [], "the chain exists already; without prune: no change"
    asked: list[str] = []

    def decline(question: str) -> bool:
        asked.append(question)
        return False

    with pytest.raises(UsageError, match="pruning: declined"):
        client.chains.apply(str(path), prune=True, confirm_prune=decline)
    assert asked == ["remove 1 subscriptions?"]
    assert len(client.chains.show(f"sns:{unique}").links) == 2

    pruned = client.chains.apply(path, prune=True, confirm_prune=lambda question: True)
    extra = f"arn:aws:sqs:us-east-1:123456789012:{unique}-extra"
    assert [(c.resource, c.action, c.status) for c in pruned.pending] == [
        (f"subscription sns:{unique} -> {extra}", "delete", "applied")
    ]
    assert [link.channel for link in client.chains.show(f"sns:{unique}").links] == [f"sqs:{unique}-a"]


@pytest.mark.amq
def test_virtual_topic_chain_from_python(amq_client, unique) -> None:
    topic = parse_channel(f"amq:topic/VirtualTopic.{unique}")
    created = amq_client.chains.create(topic, ["amq:queue/billing", parse_channel("amq:queue/shipping")])
    consumer_queues = [f"Consumer.billing.VirtualTopic.{unique}", f"Consumer.shipping.VirtualTopic.{unique}"]
    assert [c.resource for c in created.changes][1:] == [f"queue amq:queue/{q}" for q in consumer_queues]
    assert {c.status for c in created.pending} == {"applied"}

    tree = amq_client.chains.show(f"amq:topic/VirtualTopic.{unique}")
    assert sorted(link.channel for link in tree.links) == [f"amq:queue/{q}" for q in consumer_queues]
    probed = amq_client.chains.check(topic, probe=True, timeout=5)
    assert {(p.channel, p.outcome) for p in probed.probes} == {
        (f"amq:queue/{q}", "delivered") for q in consumer_queues
    }
    assert probed.exit_code == ExitCode.OK

    with pytest.raises(UsageError, match="--fifo"):
        amq_client.chains.create(topic, ["amq:queue/billing"], fifo=True)
    with pytest.raises(MsgctlError, match="cannot delete destinations over STOMP"):
        amq_client.chains.delete(topic, confirm=lambda question: True)
