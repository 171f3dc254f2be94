"""Amazon MQ API: find the STOMP endpoints of a broker by name or id."""

from __future__ import annotations

from typing import Any

from msgctl.backends.aws import AwsClients, aws_errors
from msgctl.errors import MsgctlError, NotFoundError


def stomp_endpoints(clients: AwsClients, name_or_id: str) -> list[str]:
    mq = clients.client("mq")
    broker_id = _broker_id(mq, name_or_id)
    with aws_errors(f"cannot describe Amazon MQ broker {name_or_id!r}"):
        broker = mq.describe_broker(BrokerId=broker_id)
    if broker.get("EngineType", "").upper() not in ("ACTIVEMQ", ""):
        raise MsgctlError(f"Amazon MQ broker {name_or_id!r} runs {broker['EngineType']}, not ActiveMQ")
    urls = [
        endpoint
        for instance in broker.get("BrokerInstances", [])
        for endpoint in instance.get("Endpoints", [])
        if endpoint.startswith(("stomp+ssl://", "stomp://"))
    ]
    if not urls:
        raise MsgctlError(f"Amazon MQ broker {name_or_id!r} has no STOMP endpoint (is it running?)")
    return urls


def _broker_id(mq: Any, name_or_id: str) -> str:
    with aws_errors("cannot list Amazon MQ brokers"):
        summaries = [
            summary
            for page in mq.get_paginator("list_brokers").paginate()
            for summary in page.get("BrokerSummaries", [])
        ]
    for summary in summaries:
        if name_or_id in (summary.get("BrokerName"), summary.get("BrokerId")):
            return str(summary["BrokerId"])
    raise NotFoundError(f"no Amazon MQ broker named {name_or_id!r}")
