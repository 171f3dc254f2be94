"""The root command: global options, the exit code table, and the subcommands."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Annotated

import typer
import typer.core
import typer.main

from msgctl import __version__
from msgctl.cli.options import FORMATS, GlobalOutputOption
from msgctl.cli.state import GlobalFlags, get_state
from msgctl.errors import ExitCode, UsageError

# Plain click help instead of rich panels: importing rich's help renderer alone costs ~60 ms, and
# `msgctl --help` must start faster than `import boto3`.
typer.core.HAS_RICH = False
typer.main.HAS_RICH = False  # type: ignore[attr-defined]

EXIT_CODES = ", ".join(f"{int(code)} {code.meaning}" for code in ExitCode)

ROOT_SETTINGS = dict(
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
# Each command's module is imported only when that command runs; the root help lists the commands from
# these summaries (a test keeps them equal to the modules' own help), so `msgctl --help` imports none.
COMMANDS = {
    "ls": (
        "channels",
        "ls",
        "List channels with their depth, in-flight and delayed counts, DLQ and subscriptions.",
    ),
    "stats": (
        "channels",
        "stats",
        "Show one channel in detail: counts, DLQ, oldest message age and everything the broker reports.",
    ),
    "send": (
        "channels",
        "send",
        "Send one message. ActiveMQ messages are sent persistent and confirmed by a broker receipt.",
    ),
    "tail": (
        "tail",
        "tail_command",
        "Watch a channel without consuming it: SQS snapshots, SNS via an ephemeral queue, ActiveMQ browsing.",
    ),
    "replay": (
        "replay",
        "replay_command",
        "Re-send captured messages idempotently into a queue or topic (SQS, SNS, ActiveMQ).",
    ),
    "check": (
        "health",
        "check",
        "Check every channel's health: depth, oldest message age, dead letters, consumers, subscriptions.",
    ),
    "top": (
        "top",
        "top",
        "Watch every channel live: depth, in flight, rates in and out, oldest age, dead letters, consumers.",
    ),
    "fifo": ("fifo", None, "FIFO queues and message groups: which groups are behind or blocked."),
    "dlq": ("dlq", None, "Dead-letter queues: list them, look inside, move their messages back."),
    "chain": (
        "chains",
        None,
        "Topic-queue chains: SNS topic -> SQS queues, or ActiveMQ virtual topic -> consumer queues.",
    ),
    "filter": (
        "filters",
        None,
        "SNS subscription filter policies: lint and test offline, attach to subscriptions.",
    ),
    "sandbox": (
        "sandbox",
        None,
        "A local AWS endpoint (moto server) and ActiveMQ broker on 127.0.0.1, for trying msgctl.",
    ),
}
VALUE_OPTIONS = frozenset(
    {"--profile", "--region", "--endpoint-url", "--broker", "--ca-file", "--output", "-o"}
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"msgctl {__version__}")
        raise typer.Exit()


def build_app(argv: Sequence[str] = (), everything: bool = False) -> typer.Typer:
    """The root command with the subcommand that argv names (all of them for help or completion)."""
    app = typer.Typer(**ROOT_SETTINGS)  # type: ignore[arg-type]
    app.callback()(root)
    wanted = None if everything else _subcommand(argv)
    for name, (module_name, function, summary) in COMMANDS.items():
        if not everything and wanted not in COMMANDS:
            app.command(name, help=summary)(_listed_only)  # root help, or an unknown command's error
            continue
        if wanted in COMMANDS and name != wanted:
            continue
        module = importlib.import_module(f"msgctl.cli.{module_name}")
        if function is None:
            app.add_typer(module.app, name=name)
        else:
            app.command(name)(getattr(module, function))
    return app


def _listed_only() -> None:  # pragma: no cover - build_app registers the real command before it runs
    raise UsageError("internal: a command was run without its module")


def _subcommand(argv: Sequence[str]) -> str | None:
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token.startswith("-"):
            # "-qo json": a bundle of short flags whose last one takes a value
            bundle = not token.startswith("--") and len(token) > 2 and "=" not in token
            skip = token in VALUE_OPTIONS or (bundle and token[-1] == "o")
        else:
            return token
    return None


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
    ca_file: Annotated[
        str | None,
        typer.Option(
            envvar="MSGCTL_CA_FILE",
            help="stomp+ssl: trust the CA certificates in this PEM file (default: the system's).",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="stomp+ssl: do not verify the broker's certificate (a warning says so)."
        ),
    ] = False,
    output: GlobalOutputOption = None,
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
            ca_file=ca_file,
            insecure=insecure,
            output=output,
            output_env=_env_output(),
            verbose=verbose,
            debug=debug,
            quiet=quiet,
            no_color=no_color or bool(os.environ.get("NO_COLOR")),
        )
    )


def _env_output() -> str | None:
    value = os.environ.get("MSGCTL_OUTPUT")
    if not value:
        return None
    if value not in FORMATS:
        raise UsageError(f"MSGCTL_OUTPUT={value!r}: expected one of {', '.join(FORMATS)}")
    return value
