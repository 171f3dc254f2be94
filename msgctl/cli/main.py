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
    from msgctl.cli.signals import sigterm_interrupts
    from msgctl.cli.state import AppState

    args = list(sys.argv[1:] if argv is None else argv)
    state = AppState()
    command = typer.main.get_command(build_app(args, everything="_MSGCTL_COMPLETE" in os.environ))
    try:
        with sigterm_interrupts():
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
    except click.exceptions.Abort as exc:  # click's form of a KeyboardInterrupt
        state.renderer.error("interrupted" if isinstance(exc.__context__, KeyboardInterrupt) else "aborted")
        return ExitCode.INTERRUPTED
    except SystemExit as exc:
        # click turns a write to a closed pipe into exit 1. `msgctl tail ... | head -1`: the reader has what
        # it wanted, and what was held is released by now (the commands' finally blocks ran). A command that
        # only looks ends quietly with 0, as `cat | head` does; one that changed something (tail --consume,
        # redrive, replay) cannot tell its reader what it did, so it says so.
        if not (isinstance(exc.__context__, BrokenPipeError) and _stdout_closed()):
            raise
        _discard_stdout()
        if state.output_may_be_cut:
            return ExitCode.OK
        _report(state, "standard output was closed before msgctl could write all of its output")
        return ExitCode.FAILED
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        _report(state, f"unexpected {type(exc).__name__}: {exc}")
        return ExitCode.FAILED
    finally:
        state.close()


def _stdout_closed() -> bool:
    """Has the reader of stdout gone away? A pipe without a reader polls as an error or hang-up."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (or no poll)
        return False
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in events)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not fail again and complain."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _report(state: AppState, message: str) -> None:
    secrets = state.secrets()
    if state.flags.debug:
        sys.stderr.write(redact(traceback.format_exc(), secrets))
    state.renderer.error(redact(" ".join(message.split()), secrets))  # one line, whatever a library said
