"""sandbox up/status/down: the embedded default that needs no AWS account."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from msgctl import sandbox as core
from msgctl.cli.options import OutputOption, ShellOutputOption
from msgctl.cli.state import get_state

app = typer.Typer(
    help="A local AWS endpoint (moto server) and ActiveMQ broker on 127.0.0.1, for trying msgctl.",
    no_args_is_help=True,
)


@app.command()
def up(
    ctx: typer.Context,
    seed: Annotated[
        bool, typer.Option(help="Create a topic-queue chain and a DLQ holding a few dead messages.")
    ] = False,
    aws_port: Annotated[
        int | None,
        typer.Option(
            help=f"Port of the local AWS endpoint (default: {core.DEFAULT_AWS_PORT}, or the next free one).",
            show_default=False,
        ),
    ] = None,
    stomp_port: Annotated[
        int | None,
        typer.Option(
            help=f"STOMP port of the local broker; stomp+ssl listens on the next one (default: "
            f"{core.DEFAULT_STOMP_PORT}, or the next free pair).",
            show_default=False,
        ),
    ] = None,
    activemq: Annotated[bool, typer.Option(help="Start ActiveMQ too, when it is installed.")] = True,
    output: ShellOutputOption = None,
) -> None:
    """Start the sandbox servers (what is already running is kept) and print the export lines.

    Example:

        eval "$(msgctl sandbox up --seed)"
    """
    renderer = get_state(ctx).renderer
    directory = core.sandbox_dir()
    state = core.up(directory, aws_port, stomp_port, with_activemq=activemq, progress=renderer.info)
    for note in state.notes:
        renderer.warn(note)
    if seed and not state.seeded:
        from msgctl.sandbox_seed import seed as seed_channels

        renderer.info("seeding: " + ", ".join(seed_channels(state)))
        state.seeded = True
        core.save_state(directory, state)
    if output == "json":
        renderer.document(state.env())
        return
    for name, value in state.env().items():
        renderer.line(f"export {name}={shlex.quote(value)}")


@app.command()
def status(ctx: typer.Context, output: OutputOption = None) -> None:
    """Show which sandbox servers run, where, and their logs."""
    state = get_state(ctx)
    renderer = state.use_output(output)
    sandbox = core.load_state(core.sandbox_dir())
    rows = [
        {"server": s.name, "url": s.url, "pid": s.pid, "log": s.log, "seeded": sandbox.seeded}
        for s in sandbox.servers.values()
    ]
    rows += [
        {
            "server": "amq tls",
            "url": s.tls_url,
            "pid": s.pid,
            "log": f"CA: {s.ca_file}",
            "seeded": sandbox.seeded,
        }
        for s in sandbox.servers.values()
        if s.tls_url
    ]
    if not rows and renderer.output == "table":
        renderer.info("the sandbox is not running: msgctl sandbox up")
        return
    renderer.records(rows, ("server", "url", "pid", "log", "seeded"))


@app.command()
def down(ctx: typer.Context, output: ShellOutputOption = None) -> None:
    """Stop the sandbox servers and print the unset lines."""
    renderer = get_state(ctx).renderer
    stopped = core.down(core.sandbox_dir())
    renderer.info(f"stopped: {', '.join(stopped)}" if stopped else "the sandbox was not running")
    names = list(core.SandboxState(servers={"aws": _ANY, "amq": _ANY}).env())
    if output == "json":
        renderer.document({"stopped": list(stopped), "unset": names})
        return
    for name in names:
        renderer.line(f"unset {name}")


_ANY = core.Server("", 0, "", "")
