"""The lag core and its renderers, without a broker."""

from msgctl.core.fifo_lag import GroupLag, LagReport, Seen, Thresholds, cut_from_batches, group_rows, select
from msgctl.render.lag import nagios, prometheus


def batch(*groups, asked=10):
    return asked, [Seen(group, 1_000_000, 0) for group in groups]


def test_only_the_last_group_of_a_full_batch_may_be_cut_short():
    batches = [
        batch("a", "b", "b", "b", "c", "c", "c", "c", "c", "c"),
        batch(*"d" * 10),
        batch("f", "f"),
    ]
    assert cut_from_batches(batches, nothing_left_visible=False) == {"c", "d"}
    assert cut_from_batches(batches, nothing_left_visible=True) == set()


def test_a_group_seen_scattered_or_twice_proves_nothing():
    batches = [batch("a", "b", "a", "c"), batch("c", "d")]
    assert cut_from_batches(batches, nothing_left_visible=False) == {"a", "c"}


def test_a_receive_asked_for_fewer_than_10_is_full_when_it_got_them_all():
    assert cut_from_batches([batch("a", "b", "b", asked=3)], nothing_left_visible=False) == {"b"}
    assert cut_from_batches([batch("a", "b", asked=3)], nothing_left_visible=False) == set()


def test_rows_give_head_age_count_and_state():
    seen = [
        Seen("a", 10_000, 0),
        Seen("a", 12_000, 0),
        Seen("b", 15_000, 2, receives_by_others=2),
        Seen("c", 16_000, 3, receives_by_others=0),  # only msgctl's own sweeps received it
    ]
    rows = {row.group: row for row in group_rows(seen, {"a"}, now_ms=20_000)}
    assert rows["a"] == GroupLag("a", 10.0, 2, True, 0, "waiting")
    assert (rows["b"].state, rows["b"].head_receive_count, rows["b"].count_is_lower_bound) == (
        "blocked",
        2,
        False,
    )
    assert rows["c"].state == "waiting" and rows["c"].head_receive_count == 3


def test_select_sorts_by_age_cuts_to_top_and_names_hidden_groups_in_flight():
    rows = [GroupLag(g, age, 1, False, 0, "waiting") for g, age in (("a", 1.0), ("b", 9.0), ("c", 5.0))]
    assert [r.group for r in select(list(rows), None, None, 0)] == ["b", "c", "a"]
    assert [r.group for r in select(list(rows), None, 2, 0)] == ["b", "c"]
    named = select(list(rows), ["a", "zz"], None, in_flight=3)
    assert [(r.group, r.state) for r in named] == [("a", "waiting"), ("zz", "in-flight")]
    assert [r.group for r in select(list(rows), ["a", "zz"], None, in_flight=0)] == ["a"]


def report(*ages):
    groups = [
        GroupLag(f"g{n}", age, 2, n == 0, 0, "blocked" if n == 1 else "waiting") for n, age in enumerate(ages)
    ]
    return LagReport("sqs:q.fifo", groups, {"approximate_number_of_messages": 7, "sample_reached": False})


def test_thresholds_judge_the_oldest_head():
    thresholds = Thresholds(warn_s=60, crit_s=300)
    assert thresholds.status(report(10.0, 20.0)) == "OK"
    assert thresholds.status(report(10.0, 60.0)) == "WARNING"
    assert thresholds.status(report(301.0)) == "CRITICAL"
    assert thresholds.status(report()) == "OK"
    assert Thresholds().status(report(1e9)) == "OK"


def test_nagios_line_has_status_summary_and_perfdata():
    line = nagios(report(10.0, 70.5), "WARNING", Thresholds(60, 300))
    status, perfdata = line.split(" | ")
    assert status.startswith("WARNING: sqs:q.fifo oldest group head 70.5s over 2 groups, blocked: g1")
    assert perfdata.split()[0] == "oldest_age=70.500s;60;300;0"
    assert "'g1_age'=70.500s;60;300;0" in perfdata and "'g0_count'=2;;;0" in perfdata
    assert "\n" not in line


def test_prometheus_gauges_escape_label_values():
    text = prometheus(
        LagReport('sqs:q"1.fifo', [GroupLag('we"ird\\g', None, 1, True, 0, "blocked")], {"receives": 3})
    )
    assert 'msgctl_fifo_group_oldest_age_seconds{channel="sqs:q\\"1.fifo",group="we\\"ird\\\\g"} NaN' in text
    assert 'msgctl_fifo_group_count_is_lower_bound{channel="sqs:q\\"1.fifo",group="we\\"ird\\\\g"} 1' in text
    assert 'msgctl_fifo_queue_receives{channel="sqs:q\\"1.fifo"} 3' in text
    assert text.count("# TYPE") == text.count("# HELP") == 5
