"""Option bundles shared by several commands, declared once."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer

from msgctl.config import OutputFormat
from msgctl.errors import UsageError

if TYPE_CHECKING:
    from msgctl.filter.engine import Scope


# Every format some command prints; each command declares the ones that suit it with output_option.
FORMATS = ("table", "json", "ndjson", "pretty", "nagios", "prometheus", "shell")
DATA_FORMATS: tuple[OutputFormat, ...] = ("table", "json", "ndjson")  # what the Renderer draws itself
FORMAT_HELP = {
    "table": "table",
    "json": "json (one document)",
    "ndjson": "ndjson (one object per line)",
    "pretty": "pretty (readable blocks)",
    "nagios": "nagios (a status line; exit 0/1/2/3)",
    "prometheus": "prometheus (text exposition)",
    "shell": "shell (lines for eval)",
}


def output_option(*formats: str, aliases: Mapping[str, str] | None = None, note: str = "") -> Any:
    """The -o/--output option of a command that prints ``formats``; the global -o is checked against them
    too, so every command says which formats it takes when given another (exit 2). ``aliases`` name a
    format by another one's name (tail's ``table`` is ``pretty``)."""
    taken = {**{f: f for f in formats}, **(aliases or {})}
    help_text = f"{_either([FORMAT_HELP[f] for f in formats])}.{' ' + note if note else ''}"

    def choose(ctx: typer.Context, value: str | None) -> str | None:
        if ctx.resilient_parsing:
            return value
        return _choose_output(ctx, value, taken, formats)

    return Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help=help_text,
            callback=choose,
            click_type=_FormatChoice(sorted(taken)),
            show_default=False,
        ),
    ]


class _FormatChoice(click.Choice):  # type: ignore[type-arg]
    """Completes the command's formats; the check is _choose_output's, one message for -o given before or
    after the command."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value


def _choose_output(
    ctx: typer.Context, value: str | None, taken: Mapping[str, str], formats: Sequence[str]
) -> str | None:
    """The command's -o, else the global -o, else MSGCTL_OUTPUT when it suits the command; None: the
    command's default. Data formats also go to the renderer."""
    from msgctl.cli.state import get_state

    state = get_state(ctx)
    given = value or state.flags.output
    if given is not None and given not in taken:
        raise UsageError(f"-o {given}: msgctl {_command_name(ctx)} prints {_either(list(formats))}")
    preferred = state.flags.output_env if state.flags.output_env in taken else None
    chosen = taken[given] if given is not None else taken[preferred] if preferred else None
    if chosen in DATA_FORMATS:
        state.renderer.output = DATA_FORMATS[DATA_FORMATS.index(chosen)]
    return chosen


def _command_name(ctx: typer.Context) -> str:
    names: list[str] = []
    current: click.Context | None = ctx
    while current is not None and current.parent is not None:
        names.insert(0, current.info_name or "")
        current = current.parent
    return " ".join(names)


def _either(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# The formats of a command that prints records or a document.
OutputOption = output_option("table", "json", "ndjson")
# Messages (tail); table is another name for pretty there.
MessagesOutputOption = output_option(
    "pretty",
    "ndjson",
    "json",
    aliases={"table": "pretty"},
    note="Default: pretty on a terminal, ndjson in a pipe.",
)
# Messages kept as data (dlq export).
ExportOutputOption = output_option("ndjson", "json", note="Default: ndjson.")
# Measurements a monitoring system reads (fifo lag).
LagOutputOption = output_option("table", "json", "ndjson", "nagios", "prometheus")
# Environment for a shell (sandbox up/down).
ShellOutputOption = output_option("shell", "json", note="Default: shell.")
# The global -o: any format; each command checks it against its own.
GlobalOutputOption = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="table, json (one document) or ndjson (one object per line); also pretty (tail), nagios and "
        "prometheus (fifo lag), shell (sandbox). Each command takes the formats that suit it (its --help "
        "lists them).",
        click_type=click.Choice(FORMATS),
        show_default=False,
    ),
]

FilterOption = Annotated[
    str | None,
    typer.Option("--filter", help="Only messages an SNS filter policy accepts: JSON, @FILE or -."),
]
FilterScopeOption = Annotated[str, typer.Option(help="The filter's scope: attributes or body.")]
TransformBodyOption = Annotated[
    str | None,
    typer.Option(
        "--transform-body",
        help="Repair each message: a jq program applied to its body parsed as JSON; its result, compact, is "
        "the new body (JQ, @FILE or -). A result of empty or null leaves the message where it is (in the "
        "DLQ, or unsent), skipped; a body that is not JSON, or a program that fails on it, leaves it too, "
        "named (exit 3).",
    ),
]
TransformOption = Annotated[
    str | None,
    typer.Option(
        "--transform",
        help="Repair each message: a jq program applied to its whole envelope (body as text, attributes, "
        "message_attributes with types); its result is the envelope to send, checked against the "
        "target's rules before anything is sent (JQ, @FILE or -).",
    ),
]
TransformArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--transform-arg",
        help="NAME=VALUE: a string variable $NAME for the program, as jq's --arg NAME VALUE (repeatable).",
    ),
]

PayloadsOption = Annotated[
    str | None,
    typer.Option(
        "--payloads",
        help="Extended-client messages, whose body is in S3: pointer (show the pointer, with "
        "attributes.payload naming the object) or resolve (read each object into its message, several at a "
        "time; one that cannot be read is named, exit 3). Default: resolve when a body-scope filter needs "
        "the body, else pointer.",
        click_type=click.Choice(["pointer", "resolve"]),
        show_default=False,
    ),
]

PayloadBucketOption = Annotated[
    str | None,
    typer.Option(
        "--payload-bucket",
        help="An S3 bucket for bodies over the target's size limit (the queue's MaximumMessageSize, SNS's "
        "256 KB): each goes there and is sent as an extended-client pointer, which the Amazon SQS/SNS "
        "Extended Client libraries read back (default: [aws] payload_bucket in the config file). Without "
        "one, such a body is an error before anything is sent.",
        show_default=False,
    ),
]
PayloadAlwaysOption = Annotated[
    bool, typer.Option("--payload-always", help="Put every body in the --payload-bucket, whatever its size.")
]

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def read_argument(text: str) -> str:
    """A JSON argument given inline, as @FILE, or as - for stdin."""
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        try:
            return Path(text[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {text[1:]}: {exc.strerror}") from None
    return text


def parse_scope(text: str, option: str = "--filter-scope") -> Scope:
    if text not in ("attributes", "body"):
        raise UsageError(f"{option} must be attributes or body")
    return "body" if text == "body" else "attributes"
