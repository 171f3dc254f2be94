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
    import click
    import typer.main

    from msgctl.cli.app import app
    from msgctl.cli.state import AppState

    args = list(sys.argv[1:] if argv is None else argv)
    state = AppState()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="msgctl", standalone_mode=False, obj=state)
        return int(result) if isinstance(result, int) else ExitCode.OK
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
    except (KeyboardInterrupt, click.exceptions.Abort):
        state.renderer.error("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.FAILED
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        _report(state, f"unexpected {type(exc).__name__}: {exc}")
        return ExitCode.FAILED
    finally:
        state.close()


def _report(state: AppState, message: str) -> None:
    if state.flags.debug:
        traceback.print_exc(file=sys.stderr)
    state.renderer.error(redact(message, state.secrets()))


def _silence_stdout() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
