"""Entry point: runs the Typer app and turns every failure into one stderr line and an exit code."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from msgctl.errors import ExitCode, MsgctlError
from msgctl.render.logs import redact

if TYPE_CHECKING:
    from msgctl.cli.state import AppState


def main() -> NoReturn:
    sys.exit(run(sys.argv[1:]))


def run(argv: Sequence[str] | None = None) -> int:
    import os

    import click
    import typer.main

    from msgctl.cli.app import build_app
    from msgctl.cli.state import AppState

    args = list(sys.argv[1:] if argv is None else argv)
    state = AppState()
    command = typer.main.get_command(build_app(args, everything="_MSGCTL_COMPLETE" in os.environ))
    try:
        result = command.main(args=args, prog_name="msgctl", standalone_mode=False, obj=state)
        code = int(result) if isinstance(result, int) else ExitCode.OK
        if code == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into this exit code
            state.renderer.error("interrupted")
        return code
    except MsgctlError as exc:
        _report(state, str(exc))
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
        return ExitCode.USAGE
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _report(state, f"{exc.format_message()}{hint}")
        return ExitCode.USAGE
    except click.ClickException as exc:
        _report(state, exc.format_message())
        return exc.exit_code
    except click.exceptions.Abort:
        state.renderer.error("aborted")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        _report(state, f"unexpected {type(exc).__name__}: {exc}")
        return ExitCode.FAILED
    finally:
        state.close()


def _report(state: AppState, message: str) -> None:
    secrets = state.secrets()
    if state.flags.debug:
        sys.stderr.write(redact(traceback.format_exc(), secrets))
    state.renderer.error(redact(" ".join(message.split()), secrets))  # one line, whatever a library said
