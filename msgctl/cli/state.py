"""Per-run state shared by the commands: settings (resolved lazily), the renderer and the library client."""

from __future__ import annotations

import getpass
import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from msgctl.config import Settings, environment_secrets, resolve_settings
from msgctl.render import Renderer
from msgctl.render.logs import start_logging, stop_logging

if TYPE_CHECKING:
    from msgctl.api.client import Client


@dataclass
class GlobalFlags:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    broker: str | None = None
    password_stdin: bool = False
    ca_file: str | None = None
    insecure: bool = False
    output: str | None = None  # the global -o, as given
    output_env: str | None = None  # MSGCTL_OUTPUT: used by the commands it suits
    verbose: int = 0
    debug: bool = False
    quiet: bool = False
    no_color: bool = False


@dataclass
class AppState:
    flags: GlobalFlags = field(default_factory=GlobalFlags)
    renderer: Renderer = field(default_factory=Renderer)
    _settings: Settings | None = None
    _client: Client | None = None
    _log_handler: logging.Handler | None = None
    # A reader that goes away early (`| head`) cuts nothing that matters only for commands that just look:
    # they end quietly with 0. Any other command that loses its stdout says so and fails.
    output_may_be_cut: bool = False

    def configure(self, flags: GlobalFlags) -> None:
        """Called once the global flags are parsed: output, colour and logs follow them."""
        self.flags = flags
        self.renderer.output = "table"  # until the command's -o option chooses (cli.options.output_option)
        self.renderer.color = not flags.no_color
        self.renderer.quiet = flags.quiet
        self.renderer.verbose = flags.verbose
        self._log_handler = start_logging(flags.verbose, flags.debug, self.secrets)

    def secrets(self) -> list[str]:
        """Every secret known so far: environment, --password-stdin, profiles and resolved credentials."""
        found = environment_secrets()
        if self._settings is not None and self._settings.broker_password:
            found.append(self._settings.broker_password)
        if self._client is not None:
            found += self._client.secrets()
        return found

    @property
    def settings(self) -> Settings:
        """Flags beat environment beat the config file; read on first use so --help never fails."""
        if self._settings is None:
            flags = self.flags
            self._settings = resolve_settings(
                profile=flags.profile,
                region=flags.region,
                endpoint_url=flags.endpoint_url,
                broker=flags.broker,
                broker_password=_read_password() if flags.password_stdin else None,
                ca_file=flags.ca_file,
                insecure=flags.insecure,
            )
        return self._settings

    @property
    def client(self) -> Client:
        """The library under every command; its warnings go to stderr through the renderer."""
        if self._client is None:
            from msgctl.api.client import Client

            self._client = Client.from_settings(self.settings, on_warning=self.renderer.warn)
        return self._client

    def use_output(self, output: str | None) -> Renderer:
        """The renderer, its format already chosen by the command's -o option (cli.options.output_option)."""
        return self.renderer

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        stop_logging(self._log_handler)
        self._log_handler = None


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("broker password: ")
    return sys.stdin.readline().rstrip("\r\n")


def get_state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj
