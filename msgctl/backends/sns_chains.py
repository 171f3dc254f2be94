"""SNS topic -> SQS queue chains: the ``ChainBackend`` for AWS, made of the planner (sns_chain_plan), the
inspector that shows and probes (sns_chain_show) and the deleter (sns_chain_delete)."""

from __future__ import annotations

from msgctl.backends.sns_chain_delete import SnsChainDeleter
from msgctl.backends.sns_chain_plan import SnsChainPlanner


class SnsChainBackend(SnsChainPlanner, SnsChainDeleter):
    """Plan and create, show and probe, delete and prune; every part reads AWS through SnsChainBase."""
