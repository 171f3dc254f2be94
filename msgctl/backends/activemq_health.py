"""What check reads of an ActiveMQ broker: the statistics plugin's counters of every queue and topic (two
requests), and the head's age of each queue that holds messages (browsed: nothing is consumed)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from msgctl.address import Channel
from msgctl.backends.activemq import (
    INDIVIDUAL_DLQ_PREFIX,
    SHARED_DLQ,
    ActiveMqBackend,
    _int,
    dlq_for,
)
from msgctl.core.health import Measure
from msgctl.errors import MsgctlError


def measure_broker(amq: ActiveMqBackend, channels: list[Channel] | None, prefix: str | None) -> list[Measure]:
    """Every queue and topic (with ``prefix``) when ``channels`` is None, else the named ones (one the
    broker does not have is measured as not found). A broker that cannot be reached raises."""
    found = {
        f"amq:{kind}/{name}": (kind, name, stats)
        for kind in ("queue", "topic")
        for name, stats in amq.destinations(">", kind)
    }
    taken_at = time.monotonic()
    queue_names = {name for kind, name, _ in found.values() if kind == "queue"}
    sizes = {name: _int(stats.get("size")) for kind, name, stats in found.values() if kind == "queue"}
    if channels is None:
        wanted = sorted(c for c, (_, name, _) in found.items() if name.startswith(prefix or ""))
    else:
        wanted = [str(c) for c in channels]
    measures = []
    for channel in wanted:
        if channel not in found:
            measures.append(Measure(channel, "topic" if "topic/" in channel else "queue", error="not found"))
            continue
        kind, name, stats = found[channel]
        measure = (
            Measure(channel, "topic") if kind == "topic" else _queue(amq, name, stats, queue_names, sizes)
        )
        enqueued, dequeued = _int(stats.get("enqueueCount")), _int(stats.get("dequeueCount"))
        measures.append(replace(measure, enqueued=enqueued, dequeued=dequeued, taken_at=taken_at))
    return measures


def _queue(
    amq: ActiveMqBackend,
    name: str,
    stats: dict[str, Any],
    queue_names: set[str],
    sizes: dict[str, int | None],
) -> Measure:
    channel = Channel("amq", "queue", name)
    is_dlq = name == SHARED_DLQ or name.startswith(INDIVIDUAL_DLQ_PREFIX)
    dlq = dlq_for(name, queue_names)
    notes = {}
    try:
        age = amq.oldest_age(channel, stats)
    except MsgctlError as exc:  # one queue's head that cannot be browsed: its age is unknown, no more
        age, notes["oldest_age_s"] = None, str(exc)
    return Measure(
        channel=str(channel),
        kind="queue",
        depth=_int(stats.get("size")),
        in_flight=_int(stats.get("inflightCount")),
        oldest_age_s=age,
        dlq=dlq,
        dlq_depth=sizes.get(name) if is_dlq else sizes.get(dlq.split("/", 1)[1]) if dlq else None,
        is_dlq=is_dlq,
        dlq_shared=dlq == f"amq:queue/{SHARED_DLQ}",
        consumers=_int(stats.get("consumerCount")),
        notes=notes if age is not None or notes else {"oldest_age_s": "the head could not be browsed"},
    )
