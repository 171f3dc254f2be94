"""mq:NAME_OR_ID resolves STOMP endpoints through the Amazon MQ API (in-process moto)."""

import pytest
from moto import mock_aws

from msgctl.backends.registry import Backends
from msgctl.config import Settings
from msgctl.errors import ExitCode, NotFoundError


@pytest.fixture
def amazon_mq():
    with mock_aws():
        import boto3

        mq = boto3.client("mq", region_name="us-east-1")
        broker_id = mq.create_broker(
            BrokerName="orders-mq",
            DeploymentMode="ACTIVE_STANDBY_MULTI_AZ",
            EngineType="ACTIVEMQ",
            EngineVersion="5.18",
            HostInstanceType="mq.m5.large",
            PubliclyAccessible=False,
            AutoMinorVersionUpgrade=True,
            Users=[{"Username": "admin", "Password": "admin-password-1"}],
        )["BrokerId"]
        yield mq, broker_id


def _expected(mq, broker_id):
    described = mq.describe_broker(BrokerId=broker_id)
    return [
        url
        for instance in described["BrokerInstances"]
        for url in instance["Endpoints"]
        if url.startswith("stomp+ssl://")
    ]


@pytest.mark.parametrize("by", ["name", "id"])
def test_mq_name_or_id_resolves_stomp_endpoints(amazon_mq, by) -> None:
    mq, broker_id = amazon_mq
    spec = "orders-mq" if by == "name" else broker_id
    target = Backends(Settings(region="us-east-1", broker=f"mq:{spec}")).broker_target()
    expected = _expected(mq, broker_id)
    assert expected, "moto lists STOMP endpoints"
    assert [str(e) for e in target.endpoints] == expected
    assert all(e.ssl and e.port == 61614 for e in target.endpoints)


def test_unknown_mq_broker_is_not_found(amazon_mq) -> None:
    with pytest.raises(NotFoundError):
        Backends(Settings(region="us-east-1", broker="mq:nope")).broker_target()


def test_cli_unknown_mq_broker_exits_4(amazon_mq, invoke) -> None:
    result = invoke("--broker", "mq:nope", "stats", "amq:queue/x")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stderr.startswith("msgctl: error: no Amazon MQ broker named 'nope'")
