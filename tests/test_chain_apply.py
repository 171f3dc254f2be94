"""A chain that fails half-way says what it already built, with the failing call's exit code."""

import json

import pytest
from botocore.exceptions import ClientError

from msgctl.backends.aws import AwsClients
from msgctl.core.chains import ApplyError, ChainPlan, Change, Conflict, ConflictError, apply_plan, apply_plans
from msgctl.errors import AccessDeniedError, ExitCode


def test_apply_stops_at_the_first_failure_and_marks_every_change() -> None:
    ran = []

    def fail() -> None:
        raise AccessDeniedError("no", "AccessDenied")

    plan = ChainPlan(
        [
            Change("a", "create", run=lambda: ran.append("a")),
            Change("b", "unchanged"),
            Change("c", "update", run=fail),
            Change("d", "create", run=lambda: ran.append("d")),
        ]
    )
    with pytest.raises(ApplyError) as info:
        apply_plan(plan)
    assert ran == ["a"]
    assert [c.status for c in plan.changes] == ["applied", "planned", "failed", "not run"]
    assert info.value.exit_code == ExitCode.ACCESS_DENIED


def test_any_failure_is_reported_with_what_was_applied() -> None:
    def crash() -> None:
        raise KeyError("boom")

    plan = ChainPlan([Change("a", "create", run=lambda: None), Change("b", "create", run=crash)])
    with pytest.raises(ApplyError) as info:
        apply_plan(plan)
    assert [c.status for c in plan.changes] == ["applied", "failed"]
    assert "b: 'boom'" in info.value.message


def test_steps_that_fail_after_some_rows_report_every_row_so_far() -> None:
    """chain apply: the second chain is planned again just before it runs; a conflict found then still says
    what the first one applied, with the conflict's own exit code."""
    first = ChainPlan([Change("a", "create", run=lambda: None)])

    def replanned() -> ChainPlan:
        raise ConflictError([Conflict("queue sqs:x", "type", "FIFO", "standard")])

    with pytest.raises(ApplyError) as info:
        apply_plans([lambda: first, replanned])
    assert [(c.resource, c.status) for c in info.value.changes] == [("a", "applied")]
    assert info.value.exit_code == ExitCode.USAGE
    assert "queue sqs:x: type is FIFO, asked standard" in info.value.message


def test_a_step_that_fails_before_any_row_raises_its_own_error() -> None:
    def conflict() -> ChainPlan:
        raise ConflictError([Conflict("topic sns:x", "type", "FIFO", "standard")])

    with pytest.raises(ConflictError):
        apply_plans([conflict])


def test_a_dry_run_of_steps_runs_nothing() -> None:
    ran: list[str] = []
    step = ChainPlan([Change("a", "create", run=lambda: ran.append("a"))])
    plan = apply_plans([lambda: step], dry_run=True)
    assert ran == [] and [c.status for c in plan.changes] == ["planned"]


@pytest.fixture
def create_queue_denied_for(monkeypatch):
    """The AWS endpoint answers AccessDenied to CreateQueue for one queue name (a botocore event hook)."""
    denied: list[str] = []
    original = AwsClients._create

    def create(self, service, region):
        client = original(self, service, region)

        def deny(params, **_):
            if params.get("QueueName") in denied:
                raise ClientError(
                    {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "CreateQueue"
                )

        client.meta.events.register("before-parameter-build.sqs.CreateQueue", deny)
        return client

    monkeypatch.setattr(AwsClients, "_create", create)
    return denied


def test_a_failure_half_way_reports_what_was_created(
    invoke, aws, sqs, unique, create_queue_denied_for
) -> None:
    create_queue_denied_for.append(f"{unique}-b")
    result = invoke("chain", "create", f"sns:{unique}", f"sqs:{unique}-a", f"sqs:{unique}-b", "-o", "json")
    assert result.exit_code == ExitCode.ACCESS_DENIED
    rows = {row["resource"]: row["status"] for row in json.loads(result.stdout)}
    assert rows[f"queue sqs:{unique}-a"] == "applied"
    assert rows[f"subscription sns:{unique} -> sqs:{unique}-a"] == "applied"
    assert rows[f"queue sqs:{unique}-b"] == "failed"
    assert rows[f"subscription sns:{unique} -> sqs:{unique}-b"] == "not run"
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("msgctl: error: cannot create queue") and "AccessDenied" in error
    assert "Traceback" not in result.stderr
    said_created = {
        resource.split(" sqs:", 1)[1]
        for resource, status in rows.items()
        if resource.startswith(("queue ", "dlq ")) and status == "applied"
    }
    assert said_created == {f"{unique}-a-dlq", f"{unique}-a", f"{unique}-b-dlq"}
    listed = sqs.list_queues(QueueNamePrefix=unique).get("QueueUrls", [])
    assert sorted(listed) == sorted(sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in said_created), (
        "what the output says exists, exists, and nothing else does"
    )
