"""The root command: global options, the exit code table, and the subcommands."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import typer.core
import typer.main

from msgctl import __version__
from msgctl.cli import chains, channels, sandbox
from msgctl.cli.options import Output, OutputOption
from msgctl.cli.state import GlobalFlags, get_state
from msgctl.errors import ExitCode, UsageError

# Plain click help instead of rich panels: importing rich's help renderer alone costs ~60 ms, and
# `msgctl --help` must start faster than `import boto3`.
typer.core.HAS_RICH = False
typer.main.HAS_RICH = False  # type: ignore[attr-defined]

EXIT_CODES = ", ".join(f"{int(code)} {code.meaning}" for code in ExitCode)

app = typer.Typer(
    name="msgctl",
    help="Inspect and operate message channels on Amazon SQS/SNS and ActiveMQ (STOMP).\n\n"
    "Channels: sqs:NAME, a queue URL or ARN, sns:NAME or ARN, amq:queue/NAME, amq:topic/NAME, "
    "amq://PROFILE/queue/NAME.",
    epilog=f"Exit codes: {EXIT_CODES}.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"msgctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS profile.")] = None,
    region: Annotated[
        str | None, typer.Option(envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="AWS region.")
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            help="AWS endpoint for every service. Without it boto3 reads AWS_ENDPOINT_URL and "
            "AWS_ENDPOINT_URL_SQS/_SNS itself."
        ),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            envvar="MSGCTL_BROKER",
            help="ActiveMQ broker: stomp://HOST:PORT, stomp+ssl://HOST:PORT, a comma-separated failover "
            "list, a profile from the config file, or mq:NAME_OR_ID (Amazon MQ). Credentials come from "
            "MSGCTL_BROKER_USER/MSGCTL_BROKER_PASSWORD, the profile, or --password-stdin.",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the broker password from stdin.")
    ] = False,
    output: OutputOption = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail.")] = 0,
    debug: Annotated[
        bool, typer.Option("--debug", help="Tracebacks and wire logs on stderr, with secrets redacted.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only data and errors.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also when NO_COLOR is set).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state = get_state(ctx)
    state.configure(
        GlobalFlags(
            profile=profile,
            region=region,
            endpoint_url=endpoint_url,
            broker=broker,
            password_stdin=password_stdin,
            output=output or _env_output(),
            verbose=verbose,
            debug=debug,
            quiet=quiet,
            no_color=no_color or bool(os.environ.get("NO_COLOR")),
        )
    )


def _env_output() -> Output | None:
    value = os.environ.get("MSGCTL_OUTPUT")
    if not value:
        return None
    try:
        return Output(value)
    except ValueError:
        raise UsageError(f"MSGCTL_OUTPUT={value!r}: expected table, json or ndjson") from None


app.command("ls")(channels.ls)
app.command("stats")(channels.stats)
app.command("send")(channels.send)
app.add_typer(chains.app, name="chain")
app.add_typer(sandbox.app, name="sandbox")
