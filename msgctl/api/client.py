"""``Client``: every msgctl operation as a Python call, for runbooks, notebooks and Lambda functions."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from msgctl.api.convert import (
    ChannelLike,
    Confirm,
    attributes_of,
    channel_of,
    go_ahead,
    policy_of,
    seconds_of,
    transform_spec,
)
from msgctl.config import Settings, resolve_settings
from msgctl.errors import UsageError

if TYPE_CHECKING:
    from msgctl.address import Channel
    from msgctl.api.chains import Chains
    from msgctl.api.channels import ChannelList
    from msgctl.api.dlq import DeadLetterQueue, MoveTask, Purged
    from msgctl.api.filters import Filters
    from msgctl.api.health import HealthReport
    from msgctl.api.lag import LagMeter
    from msgctl.api.messages import MessageStream
    from msgctl.api.prune import PruneResult
    from msgctl.api.redrive import RedriveResult
    from msgctl.api.replay import ReplayResult, ReplaySource
    from msgctl.api.top import TopSampler
    from msgctl.backends.registry import Backends
    from msgctl.core.fifo_lag import LagReport
    from msgctl.core.payloads import Resolver
    from msgctl.core.ports import ChannelStats, SendReceipt
    from msgctl.core.progress import OnProgress
    from msgctl.envelope import Envelope
    from msgctl.filter.engine import Scope

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

    # Channels

    def channels(self, service: str | None = None, prefix: str | None = None) -> ChannelList:
        """Every channel's summary (``.channel``, ``.kind``, ``.depth``, ``.dlq``, ...): SQS and SNS, and
        ActiveMQ when a broker is configured, or one ``service`` (sqs, sns, amq)."""
        from msgctl.api.channels import list_channels

        return list_channels(self.backends, service, prefix)

    def stats(self, channel: ChannelLike) -> ChannelStats:
        """One channel in detail: ``.depth``, ``.in_flight``, ``.oldest_age_s``, and ``.details``."""
        address = channel_of(channel)
        return self.backends.for_channel(address).stats(address)

    def send(
        self,
        channel: ChannelLike,
        body: str | bytes,
        attributes: Mapping[str, Any] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        *,
        payload_bucket: str | None = None,
        payload_always: bool = False,
    ) -> SendReceipt:
        """Send one message (ActiveMQ: persistent, confirmed by a receipt); returns ``.id``.

        ``payload_bucket`` (default: ``[aws] payload_bucket`` of the config file): a body over the queue's
        MaximumMessageSize (SNS: 256 KB), or any body with ``payload_always``, is put in that S3 bucket and
        sent as an extended-client pointer, which the Amazon SQS/SNS Extended Client libraries read back."""
        from msgctl.api.payloads import send_with_payloads

        address = channel_of(channel)
        return send_with_payloads(
            self.backends,
            address,
            body.encode("utf-8") if isinstance(body, str) else body,
            attributes_of(attributes),
            group_id,
            dedup_id,
            self._payload_bucket(payload_bucket, address),
            payload_always,
        )

    def _payload_bucket(self, bucket: str | None, to: Channel) -> str | None:
        """The bucket asked for, else the config file's (for SQS and SNS: ActiveMQ takes large bodies)."""
        if bucket is not None or to.service == "amq":
            return bucket
        return self.backends.settings.config.payload_bucket

    # Reading without consuming

    def tail(
        self,
        channel: ChannelLike,
        max: int | None = None,
        filter: Any = None,
        *,
        filter_scope: Scope = "attributes",
        follow: bool = False,
        wait: float | None = None,
        consume: bool = False,
        force: bool = False,
        hold: int | None = None,
        unwrap: bool = True,
        since: str | float | timedelta | None = None,
        grep: str | re.Pattern[str] | None = None,
        duration: str | float | timedelta | None = None,
        stop_requested: Callable[[], bool] | None = None,
        confirm: Confirm | None = None,
        payloads: str | None = None,
    ) -> MessageStream:
        """The channel's messages as envelopes, without consuming them (unless ``consume``): an SQS
        snapshot (held while read, released when the stream closes), an SNS topic through an ephemeral
        queue, an ActiveMQ browse or subscription. Use it in a ``with`` block so what is held is released
        when the block ends; ``stream.partial`` says why a read could not see every message.

        An extended-client message (its body in S3) carries ``attributes.payload``; ``payloads="resolve"``
        (the default with a body-scope filter) reads each payload into its envelope, several at a time;
        one that cannot be read leaves the pointer and a line in ``stream.unresolved``."""
        from msgctl.api.messages import MessageStream
        from msgctl.core.tail import TailOptions

        address = channel_of(channel)
        since_s = seconds_of(since)
        options = TailOptions(
            follow=follow or address.kind == "topic",
            max=max,
            wait=wait,
            consume=consume,
            force=force,
            hold=hold,
            unwrap=unwrap,
            since=timedelta(seconds=since_s) if since_s is not None else None,
            filter=policy_of(filter, filter_scope),
            grep=_regex(grep),
            duration=seconds_of(duration),
        )
        if consume:
            go_ahead(confirm, f"delete every message tail prints from {address}?", "--consume")
        resolver = self._resolver(address, payloads, options.filter)
        source = self.backends.tail_source(address, options)
        return MessageStream(source, options, stop_requested or (lambda: False), resolver)

    def export(
        self,
        channel: ChannelLike,
        max: int | None = None,
        *,
        force: bool = False,
        payloads: str | None = None,
    ) -> MessageStream:
        """A DLQ's (or any queue's) messages, non-destructively, by tail's rules; ends by itself."""
        return self.tail(channel, max=max, force=force, payloads=payloads)

    def _resolver(self, channel: Channel | None, mode: str | None, policy: Any) -> Resolver | None:
        """What reads S3 payloads into envelopes, when ``mode`` (or a body-scope filter) asks for it;
        ``channel`` is where the messages come from (None: a file)."""
        from msgctl.core.payloads import Resolver, chosen_mode

        if chosen_mode(mode, policy) != "resolve" or (channel is not None and channel.service == "amq"):
            return None
        from msgctl.backends.s3_payloads import S3Payloads

        return Resolver(S3Payloads(self.backends.aws, channel.region if channel is not None else None))

    # Dead letters

    def dlqs(self, prefix: str | None = None) -> list[DeadLetterQueue]:
        """Every DLQ with its depth, oldest message age and source queues."""
        from msgctl.api.dlq import dead_letter_queues

        return dead_letter_queues(self.backends, prefix)

    def redrive(
        self,
        dlq: ChannelLike,
        to: ChannelLike | None = None,
        engine: str = "auto",
        filter: Any = None,
        max: int | None = None,
        ids: Iterable[str] | None = None,
        copy: bool = False,
        concurrency: int = 4,
        journal: str | Path | None = None,
        resume: bool = False,
        dry_run: bool = False,
        on_progress: OnProgress | None = None,
        *,
        filter_scope: Scope = "attributes",
        rate: float | None = None,
        hold: int | None = None,
        confirm: Confirm | None = None,
        choose: Callable[[str, list[str]], str | None] | None = None,
        transform_body: str | None = None,
        transform: str | None = None,
        transform_args: Mapping[str, str] | None = None,
        payloads: str | None = None,
    ) -> RedriveResult:
        """Move dead letters back: natively (an SQS move task) or client-side, selectively, resumably.

        Client-side, a message is deleted from the DLQ only after the target confirmed it, and a journal
        records every step: after an interruption ``resume=True`` finishes without sending twice. ``to``
        defaults to the queue whose DLQ it is (``choose(question, sources)`` picks when there are several).
        ``confirm(question)`` is asked before anything moves; answering False changes nothing.
        A ``KeyboardInterrupt`` leaves held messages released and the journal kept (``Interrupted.note``).
        ``transform_body`` (a jq program on the body parsed as JSON) or ``transform`` (on the whole envelope)
        repairs each message on its way; ``transform_args`` are its ``$NAME`` string variables. A message the
        program selects out (``empty``, ``null``) is skipped, one it fails on stays in the DLQ (``failed``);
        a dry run's ``repairs`` hold each message before and after. ``payloads="resolve"`` (the default
        with a body-scope filter) lets the filter judge an extended-client message by its S3 payload; the
        pointer is what moves. A message whose payload cannot be read stays in the DLQ (``failed``).
        """
        from msgctl.api.redrive import RedriveRequest, run_redrive
        from msgctl.core.redrive import DEFAULT_HOLD_S, Selection

        source = channel_of(dlq)
        policy = policy_of(filter, filter_scope)
        request = RedriveRequest(
            dlq=source,
            to=channel_of(to) if to is not None else None,
            engine=engine,
            selection=Selection(
                max=max,
                filter=policy,
                ids=frozenset(i for i in ids if i) if ids is not None else None,
                payloads=self._resolver(source, payloads, policy),
            ),
            copy=copy,
            rate=rate,
            concurrency=concurrency,
            journal=Path(journal).expanduser() if journal is not None else None,
            resume=resume,
            dry_run=dry_run,
            hold_s=hold or DEFAULT_HOLD_S,
            transform=transform_spec(transform_body, transform, transform_args),
        )
        return run_redrive(self.backends, request, on_progress, confirm, choose)

    def edit_dead_letter(
        self,
        dlq: ChannelLike,
        message_id: str,
        edit: Callable[[Envelope], Envelope | None],
        to: ChannelLike | None = None,
        journal: str | Path | None = None,
    ) -> RedriveResult:
        """One dead letter repaired by hand: ``edit`` gets it (while this run holds it) and returns it as it
        is to be sent, or None to leave it. It then goes where ``redrive`` would send it and is deleted from
        the DLQ only once the target confirmed it, journaled as a redrive of one."""
        from msgctl.api.redrive import edit_dead_letter

        return edit_dead_letter(
            self.backends,
            channel_of(dlq),
            message_id,
            edit,
            channel_of(to) if to is not None else None,
            Path(journal).expanduser() if journal is not None else None,
        )

    # Replay

    def replay(
        self,
        source: ReplaySource,
        to: ChannelLike,
        dedup_id: str | None = None,
        group_id: str | None = "keep",
        ledger: str | Path | None = None,
        dry_run: bool = False,
        *,
        force: bool = False,
        rate: float | None = None,
        concurrency: int | None = None,
        filter: Any = None,
        filter_scope: Scope = "attributes",
        max: int | None = None,
        duration: str | float | timedelta | None = None,
        skip_invalid: bool = False,
        on_progress: OnProgress | None = None,
        on_would_send: Callable[[dict[str, Any]], None] | None = None,
        transform_body: str | None = None,
        transform: str | None = None,
        transform_args: Mapping[str, str] | None = None,
        payload_bucket: str | None = None,
        payload_always: bool = False,
        payloads: str | None = None,
    ) -> ReplayResult:
        """Re-send captured messages idempotently into a queue or topic (SQS, SNS, ActiveMQ).

        ``source``: an NDJSON file's path, a binary stream of NDJSON, an iterable of ``Envelope`` (or NDJSON
        lines), or a channel (read as tail reads it; a topic needs ``max`` or ``duration``). Every message
        is checked and given its deduplication id before the first send (``dedup_id`` None: the envelope's
        id, as the CLI does); a ledger per target records each id sent, so a second replay sends nothing
        again. Memory stays flat whatever the input's size: a file is read twice, anything else is spooled
        to a temporary file first. A dry run's ``result.preview`` sums up what it would send;
        ``on_would_send`` hears each such message. An interruption raises ``Interrupted`` whose ``result``
        holds what was sent so far. ``transform_body``/``transform``/``transform_args`` repair each message
        as ``redrive`` does (after the filter, before its deduplication id, which is the repaired message's);
        a message the program fails on is left unsent (``report.unrepaired``), the rest is sent; a dry run's
        ``on_would_send`` hears each message ``before`` and ``after``. ``payload_bucket`` (default: the
        config file's): a body over the target's size limit (every body with ``payload_always``) goes to S3
        and is sent as an extended-client pointer; without it such a body stops the replay before any send.
        ``payloads="resolve"`` (the default with a body-scope filter) lets the filter judge a pointer
        message by its S3 payload (the pointer is sent); one whose payload cannot be read is left unsent
        (``report.unjudged``).
        """
        from msgctl.api.replay import ReplayRequest, run_replay, source_channel
        from msgctl.core.replay import DEFAULT_CONCURRENCY

        policy = policy_of(filter, filter_scope)
        reading, target = source_channel(source), channel_of(to)

        request = ReplayRequest(
            source=source,
            to=target,
            dedup_id=dedup_id,
            group_id=group_id,
            ledger=Path(ledger).expanduser() if ledger is not None else None,
            dry_run=dry_run,
            force=force,
            rate=rate,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            filter=policy,
            max=max,
            duration=seconds_of(duration),
            skip_invalid=skip_invalid,
            transform=transform_spec(transform_body, transform, transform_args),
            payload_bucket=self._payload_bucket(payload_bucket, target),
            payload_always=payload_always,
            payloads=self._resolver(reading, payloads, policy),
        )
        return run_replay(self.backends, request, on_progress, on_would_send)

    def purge(self, dlq: ChannelLike, confirm: Confirm | None = None, payloads: str = "keep") -> Purged:
        """Delete every message of an SQS DLQ (``.messages``: how many). ``payloads="delete"`` reads each
        message, deletes it, then deletes the S3 object of each extended-client message
        (``.payloads_deleted``); the default, one PurgeQueue, leaves those objects."""
        from msgctl.api.dlq import purge

        return purge(self.backends, channel_of(dlq), confirm, payloads)

    def move_tasks(self, dlq: ChannelLike) -> list[MoveTask]:
        """The SQS DLQ's native move tasks, newest first."""
        from msgctl.api.dlq import move_tasks

        return move_tasks(self.backends, channel_of(dlq))

    def cancel_move_task(self, dlq: ChannelLike, handle: str | None = None) -> int:
        """Cancel the DLQ's running move task; returns how many messages it had moved."""
        from msgctl.api.dlq import cancel_move_task

        return cancel_move_task(self.backends, channel_of(dlq), handle)

    def prune_journal(
        self,
        journal: str | Path | None = None,
        dlq: ChannelLike | None = None,
        older_than: str | float | timedelta | None = None,
    ) -> PruneResult:
        """Forget the finished entries of a redrive journal (the file, or the default journal of ``dlq``)
        last changed more than ``older_than`` ago ("7d", seconds or a timedelta; None: any), so it stays
        small. Unfinished entries always stay, and so does what a resume or the next run still reads (see
        ``msgctl dlq journal prune --help``). Returns ``.pruned`` and ``.kept`` (by state), and the sizes."""
        from msgctl.api.prune import prune_journal

        return prune_journal(
            Path(journal).expanduser() if journal is not None else None,
            channel_of(dlq) if dlq is not None else None,
            seconds_of(older_than),
        )

    def prune_ledger(
        self, to: ChannelLike, older_than: str | float | timedelta, ledger: str | Path | None = None
    ) -> PruneResult:
        """Forget what ``to``'s replay ledger (or ``ledger``) holds as sent more than ``older_than`` ago
        (never less than 5 minutes ago): a later replay sends those again. Entries of sends under way
        (``sending``) stay, as they name possible duplicates."""
        from msgctl.api.prune import prune_ledger

        seconds = seconds_of(older_than)
        if seconds is None:
            raise UsageError("prune_ledger needs older_than")
        ledger_path = Path(ledger).expanduser() if ledger is not None else None
        return prune_ledger(self.backends, channel_of(to), ledger_path, seconds)

    def remove_leftover_tail_queues(self) -> list[str]:
        """Delete the ephemeral queues of SNS tails that ended without cleaning up (older than an hour)."""
        return self.backends.remove_leftover_tail_queues()

    def lag_meter(
        self,
        channel: ChannelLike,
        hold: int = 30,
        sample: int = 1000,
        groups: list[str] | None = None,
        *,
        group_property: str | None = None,
        top: int | None = None,
        force: bool = False,
    ) -> LagMeter:
        """``fifo_lag`` again and again (a live view): ``meter.measure(stop_requested, again=True)``."""
        from msgctl.api.lag import lag_meter

        return lag_meter(
            self.backends, channel, hold, sample, groups, group_property=group_property, top=top, force=force
        )

    def fifo_lag(
        self,
        channel: ChannelLike,
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
        meter = self.lag_meter(
            channel, hold, sample, groups, group_property=group_property, top=top, force=force
        )
        return meter.measure(stop_requested)

    # Health

    def check(
        self,
        channels: Iterable[ChannelLike] | None = None,
        prefix: str | None = None,
        *,
        depth_warn: int | None = None,
        depth_crit: int | None = None,
        age_warn: str | float | timedelta | None = None,
        age_crit: str | float | timedelta | None = None,
        dlq_warn: int | None = None,
        dlq_crit: int | None = None,
        consumers_min: int | None = None,
        peek: bool = False,
    ) -> HealthReport:
        """Every channel's health (or the named ones'): ``.channels``, worst first, each with ``.status``
        (ok, warning, critical, unknown) and ``.checks``; ``.status`` and ``.exit_code`` of the whole.
        Thresholds given here win over the channel's ``msgctl:*`` tags, which win over the config file.
        ``peek``: read the first messages of an SQS queue whose age CloudWatch does not tell, by tail's rules
        (held, then released at once; refused where a receive would bring a message near its DLQ)."""
        from msgctl.api.health import check_health
        from msgctl.core.health import Thresholds

        flags = Thresholds(
            depth_warn=depth_warn,
            depth_crit=depth_crit,
            age_warn=seconds_of(age_warn),
            age_crit=seconds_of(age_crit),
            dlq_warn=dlq_warn,
            dlq_crit=dlq_crit,
            consumers_min=consumers_min,
        )
        named = [channel_of(c) for c in channels] if channels is not None else None
        return check_health(self.backends, named, prefix, flags, peek)

    def top_sampler(
        self, channels: Iterable[ChannelLike] | None = None, prefix: str | None = None
    ) -> TopSampler:
        """``sampler.sample()`` again and again: each channel's depth, rates in and out (from the sample
        before, or CloudWatch), oldest age, dead letters, consumers and status, as ``TopRow``s."""
        from msgctl.api.top import TopSampler

        named = [channel_of(c) for c in channels] if channels is not None else None
        return TopSampler(self.backends, named, prefix)

    def secrets(self) -> list[str]:
        """Credentials resolved so far (broker passwords, AWS keys), for redacting logs."""
        return self._backends.secrets() if self._backends is not None else []

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


def _regex(pattern: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"bad --grep pattern: {exc}") from None
