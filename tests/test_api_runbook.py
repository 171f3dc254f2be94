"""docs/api.md's Python runbook for a DLQ incident, run against the moto server and checked with boto3."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from msgctl import Client
from tests.helpers import dead_letter_pair, depth, drain

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _runbook() -> dict:
    text = DOC.read_text()
    code = re.search(r"<!-- runbook:start -->\n```python\n(.*?)```\n<!-- runbook:end -->", text, re.S)
    assert code, "docs/api.md has the runbook between its markers"
    namespace: dict = {"__name__": "runbook"}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    return namespace


@pytest.mark.slow
def test_the_python_runbook_keeps_a_copy_looks_first_and_moves_each_order_back_once(
    aws, sqs, unique, tmp_path, monkeypatch, capsys
):
    url, dlq, ids = dead_letter_pair(sqs, unique, 30)  # kind "even" or "odd"
    runbook = _runbook()
    runbook["DLQ"], runbook["ORDERS"] = f"sqs:{unique}-dlq", {"kind": ["even"]}
    monkeypatch.chdir(tmp_path)
    evens = {message_id for message_id, n in ids.items() if n % 2 == 0}
    interruptions = []

    def interrupt_once(event):
        if not interruptions:
            interruptions.append(event)
            raise KeyboardInterrupt

    with Client.from_env() as client:
        assert runbook["keep_a_copy"](client, "incident.ndjson") == 30
        assert runbook["count_orders"](client) == 15
        assert set(runbook["look_first"](client)) == evens
        assert depth(sqs, dlq) == 30, "nothing moved yet"
        result = runbook["move_orders_back"](client, on_progress=interrupt_once)
    copy = [json.loads(line) for line in (tmp_path / "incident.ndjson").read_text().splitlines()]
    assert sorted(json.loads(envelope["body"])["n"] for envelope in copy) == list(range(30))
    assert interruptions and "--resume finishes the redrive" in capsys.readouterr().out
    assert result.complete and result.possible_duplicates == []
    moved = Counter(json.loads(m["Body"])["n"] for m in drain(sqs, url, 15))
    assert moved == Counter(range(0, 30, 2)), "every order once"
    assert depth(sqs, dlq) == 15, "the others stay"

    runbook["main"]()  # the whole script, now that the orders are back: it moves nothing more
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"moved": 0, "complete": True}
    assert depth(sqs, dlq) == 15
