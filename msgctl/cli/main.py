"""Entry point: runs the Typer app and turns every failure into one stderr line and an exit code."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from msgctl.errors import ExitCode, MsgctlError

log = logging.getLogger("msgctl")


def main() -> NoReturn:
    sys.exit(run(sys.argv[1:]))


def run(argv: Sequence[str] | None = None) -> int:
    import click
    import typer.main

    from msgctl.cli.app import app
    from msgctl.cli.state import AppState
    from msgctl.render import Renderer

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    state = AppState(renderer=Renderer())
    if debug:
        _enable_debug_logging(state)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="msgctl", standalone_mode=False, obj=state)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except MsgctlError as exc:
        _report(state, str(exc), debug)
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
        return ExitCode.USAGE
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _report(state, f"{exc.format_message()}{hint}", debug)
        return ExitCode.USAGE
    except click.ClickException as exc:
        _report(state, exc.format_message(), debug)
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        state.renderer.error("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.FAILED
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        _report(state, f"unexpected {type(exc).__name__}: {exc}", debug)
        return ExitCode.FAILED


def _report(state: object, message: str, debug: bool) -> None:
    from msgctl.cli.state import AppState

    assert isinstance(state, AppState)
    if debug:
        traceback.print_exc(file=sys.stderr)
    state.renderer.error(_redact(message, _secrets(state)))


def _secrets(state: object) -> list[str]:
    from msgctl.cli.state import AppState

    if isinstance(state, AppState) and state._settings is not None:
        return state._settings.secrets()
    import os

    return [
        v
        for k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MSGCTL_BROKER_PASSWORD")
        if (v := os.environ.get(k))
    ]


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "****")
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record, then blanks every known secret in it (wire dumps included)."""

    def __init__(self, state: object) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")
        self._state = state

    def format(self, record: logging.LogRecord) -> str:
        return _redact(super().format(record), _secrets(self._state))


def _enable_debug_logging(state: object) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(state))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
