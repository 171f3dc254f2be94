"""The command reference, docs/cli.md, made from the CLI's own --help: run
``python -m msgctl.cli.reference > docs/cli.md`` after changing a command (a test fails when it is stale)."""

from __future__ import annotations

from collections.abc import Iterator

import click

WIDTH = 100


def markdown() -> str:
    """Every command's --help, depth first, each under a heading of its full name."""
    import typer.main

    from msgctl.cli.app import build_app

    root = typer.main.get_command(build_app([], everything=True))
    parts = [
        "# msgctl command reference\n",
        "Generated from `--help` by `python -m msgctl.cli.reference > docs/cli.md`; do not edit by hand.\n",
    ]
    for path, context in _walk(root, click.Context(root, info_name="msgctl", terminal_width=WIDTH)):
        parts.append(f"## {path}\n\n```text\n{context.command.get_help(context).rstrip()}\n```\n")
    return "\n".join(parts)


def missing_help() -> list[str]:
    """Commands without a help text of their own."""
    import typer.main

    from msgctl.cli.app import build_app

    root = typer.main.get_command(build_app([], everything=True))
    context = click.Context(root, info_name="msgctl", terminal_width=WIDTH)
    return [path for path, ctx in _walk(root, context) if not (ctx.command.help or "").strip()]


def _walk(command: click.Command, context: click.Context) -> Iterator[tuple[str, click.Context]]:
    yield context.command_path, context
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(context)):
            child = command.get_command(context, name)
            if child is not None and not child.hidden:
                yield from _walk(
                    child, click.Context(child, info_name=name, parent=context, terminal_width=WIDTH)
                )


if __name__ == "__main__":
    print(markdown(), end="")
