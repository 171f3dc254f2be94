"""Chain trees and plans for people: a rich tree on a terminal, plain indented text otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgctl.render import Renderer


def chain_tree(renderer: Renderer, tree: dict[str, Any]) -> None:
    if renderer.output != "table":
        renderer.document(tree)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    kind = "FIFO" if tree["fifo"] else "standard"
    root = Tree(f"[bold]{escape(tree['topic'])}[/bold] ({kind}, {len(tree['subscriptions'])} subscriptions)")
    for problem in tree["problems"]:
        root.add(f"[red]✗ {escape(problem)}[/red]")
    for link in tree["subscriptions"]:
        node = root.add(_link_label(link, escape))
        for problem in link["problems"]:
            node.add(f"[red]✗ {escape(problem)}[/red]")
        for warning in link["warnings"]:
            node.add(f"[yellow]! {escape(warning)}[/yellow]")
    terminal = renderer.stdout_is_terminal
    Console(
        file=renderer.stdout,
        no_color=not renderer.color or not terminal,
        force_terminal=terminal and renderer.color,
        width=None if terminal else 10_000,
        highlight=False,
        emoji=False,
    ).print(root)


def _link_label(link: dict[str, Any], escape: Callable[[str], str]) -> str:
    name = escape(link["channel"] or link["endpoint"])
    parts = [f"[bold]{name}[/bold]"]
    if link["protocol"] not in ("sqs", "virtual-topic"):
        parts.append(link["protocol"])
    if link["raw"] is not None and link["protocol"] == "sqs":
        parts.append("raw" if link["raw"] else "envelope")
    if link["filter_policy"]:
        keys = escape(", ".join(sorted(link["filter_policy"])))
        parts.append(f"filter on {link['filter_scope']}: {keys}")
    if link["pending_confirmation"]:
        parts.append("pending confirmation")
    queue = link["queue"]
    if queue["depth"] is not None:
        parts.append(f"depth {queue['depth']}, in flight {queue['in_flight']}")
    if queue["consumers"] is not None:
        parts.append(f"{queue['consumers']} consumers")
    if queue["dlq"]:
        depth = "" if queue["dlq_depth"] is None else f" ({queue['dlq_depth']})"
        parts.append(f"DLQ {escape(queue['dlq'])}{depth}")
    return "  ".join(parts)
