"""Issue 18 (safety of the interface): one name is one destination, -o everywhere, output as promised."""

import json
import queue

import pytest

from msgctl.errors import ExitCode
from tests.test_cli_activemq import Inbox, _confirmed, _fill


# Item 5: ActiveMQ wildcards and composite destinations are refused in every command.
@pytest.mark.parametrize("pattern", ["x.*", "x.>", "a,b", "*"])
@pytest.mark.parametrize(
    "command",
    [
        ("send", "{channel}", "body"),
        ("tail", "{channel}", "-n", "1", "--wait", "1", "-o", "ndjson"),
        ("stats", "{channel}"),
        ("dlq", "redrive", "{channel}", "--dry-run"),
        ("fifo", "lag", "{channel}"),
    ],
)
def test_activemq_wildcards_and_composites_are_refused(invoke, amq, stomp_conn, unique, pattern, command):
    _fill(stomp_conn, f"/queue/{unique}.one", 2)
    channel = f"amq:queue/{unique}.{pattern}" if pattern != "*" else "amq:queue/*"
    result = invoke(*(part.format(channel=channel) for part in command))
    assert result.exit_code == ExitCode.USAGE, result.stdout + result.stderr
    assert "wildcard" in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""
    stats = json.loads(invoke("stats", f"amq:queue/{unique}.one", "-o", "json").stdout)
    assert stats["depth"] == 2
