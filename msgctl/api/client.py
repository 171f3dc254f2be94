"""``Client``: every msgctl operation as a Python call, for runbooks, notebooks and Lambda functions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING

from msgctl.config import Settings, resolve_settings

if TYPE_CHECKING:
    from msgctl.address import Channel
    from msgctl.api.chains import Chains
    from msgctl.api.filters import Filters
    from msgctl.backends.registry import Backends
    from msgctl.core.fifo_lag import LagReport

Warn = Callable[[str], None]
_log = logging.getLogger("msgctl")


class Client:
    """One connection set to AWS and the ActiveMQ broker, opened lazily and shared by every call.

    ``Client(profile, region, endpoint_url, broker)``: each argument left out comes from the environment
    (AWS_PROFILE, AWS_REGION, MSGCTL_BROKER, ...) and then the config file, as on the command line.
    """

    def __init__(
        self,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        broker: str | None = None,
        *,
        on_warning: Warn | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or resolve_settings(
            profile=profile, region=region, endpoint_url=endpoint_url, broker=broker
        )
        self.warn: Warn = on_warning or _log.warning
        self._backends: Backends | None = None

    @classmethod
    def from_env(cls, *, on_warning: Warn | None = None) -> Client:
        return cls(on_warning=on_warning)

    @classmethod
    def from_settings(cls, settings: Settings, *, on_warning: Warn | None = None) -> Client:
        return cls(settings=settings, on_warning=on_warning)

    @property
    def backends(self) -> Backends:
        """The broker registry: each backend is opened on first use."""
        if self._backends is None:
            from msgctl.backends.registry import Backends

            self._backends = Backends(self.settings, self.warn)
        return self._backends

    @cached_property
    def chains(self) -> Chains:
        from msgctl.api.chains import Chains

        return Chains(self.backends, self.warn)

    @cached_property
    def filters(self) -> Filters:
        from msgctl.api.filters import Filters

        return Filters(self.backends, self.warn)

    def fifo_lag(
        self,
        channel: Channel | str,
        hold: int = 30,
        sample: int = 1000,
        groups: list[str] | None = None,
        *,
        group_property: str | None = None,
        top: int | None = None,
        force: bool = False,
        stop_requested: Callable[[], bool] = lambda: False,
    ) -> LagReport:
        """Per-group lag of an SQS FIFO queue or an ActiveMQ queue: ``.groups`` (each ``.group``,
        ``.oldest_age_s``, ``.count``, ``.count_is_lower_bound``, ``.state``), oldest head first, and
        ``.queue``. SQS: a receive sweep of at most ``sample`` messages, each held ``hold`` seconds and then
        released (each costs one receive; ``force`` to measure a queue where that nears the DLQ). ActiveMQ:
        a browse, which consumes nothing, grouped by ``group_property`` (default msgctl_group) or counted
        with one selector per name in ``groups``. ``top``: the K groups with the oldest heads."""
        from msgctl.api.lag import fifo_lag

        return fifo_lag(
            self.backends,
            channel,
            hold,
            sample,
            groups,
            group_property=group_property,
            top=top,
            force=force,
            stop_requested=stop_requested,
        )

    def close(self) -> None:
        if self._backends is not None:
            self._backends.close()
            self._backends = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
