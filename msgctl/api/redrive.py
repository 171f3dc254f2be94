"""Moving dead letters back: the engine choice (SQS move task, client-side, ActiveMQ transactions), the
journal checks, and the native task's polling. Nothing here prints: the result carries the notes."""

from __future__ import annotations

import hashlib
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgctl.address import Channel, parse_channel
from msgctl.api.convert import Confirm, go_ahead
from msgctl.backends.registry import Backends, no_native_move
from msgctl.core.file_lock import FileLock
from msgctl.core.journal import UNFINISHED, Journal
from msgctl.core.outbound import DEDUP_MARGIN_S, DEDUP_WINDOW_S
from msgctl.core.progress import OnProgress, ProgressCounter
from msgctl.core.redrive import DEFAULT_HOLD_S, RedriveOptions, RedriveReport, Selection, redrive, resume
from msgctl.core.state_paths import default_copy_journal, default_journal
from msgctl.core.transform import EditRepair, Repaired, Repairer, Transform, TransformSpec, readable
from msgctl.envelope import Envelope
from msgctl.errors import ExitCode, Interrupted, MsgctlError, NativeMoveInterrupted, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from msgctl.backends.activemq_redrive import AmqRedriveReport
    from msgctl.backends.sqs import SqsBackend
    from msgctl.backends.sqs_redrive import NativeMove

ENGINES = ("auto", "native", "client")
TERMINAL_TASK_STATES = ("COMPLETED", "CANCELLED", "FAILED")


@dataclass
class RedriveRequest:
    dlq: Channel
    to: Channel | None = None
    engine: str = "auto"
    selection: Selection = field(default_factory=Selection)
    copy: bool = False
    rate: float | None = None
    concurrency: int = 4
    journal: Path | None = None
    resume: bool = False
    dry_run: bool = False
    hold_s: int = DEFAULT_HOLD_S
    transform: TransformSpec | None = None
    repairer: Repairer | None = None  # a repair other than a jq program (dlq edit)

    @property
    def selecting(self) -> bool:
        """Only the client engine can do it: choose messages, copy them, or repair them."""
        chosen = self.selection
        choosing = chosen.max is not None or chosen.filter is not None or chosen.ids is not None
        return choosing or self.copy or self.repairing

    @property
    def repairing(self) -> bool:
        return self.transform is not None or self.repairer is not None

    def repair(self) -> tuple[Repairer | None, str]:
        """What repairs each message, and what the journal records of it."""
        if self.repairer is not None:
            return self.repairer, self.repairer.digest
        if self.transform is not None:
            return Transform(self.transform), self.transform.identity()
        return None, ""


@dataclass
class RedriveResult:
    """What a redrive did. ``complete`` is True when every selected message moved (the CLI's exit 0);
    ``notes`` are the warnings worth showing; ``document`` is the CLI's JSON output."""

    dlq: str
    target: str
    engine: str
    moved: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    possible_duplicates: list[str] = field(default_factory=list)
    would_move: list[str] = field(default_factory=list)
    dry_run: bool = False
    exit_code: ExitCode = ExitCode.OK
    notes: list[str] = field(default_factory=list)
    repairs: list[Repaired] = field(default_factory=list)  # a dry run with a transform: before and after
    summary: str | None = None
    document: dict[str, Any] = field(default_factory=dict)
    journal: Path | None = None

    @property
    def complete(self) -> bool:
        return self.exit_code == ExitCode.OK


def run_redrive(
    backends: Backends,
    request: RedriveRequest,
    on_progress: OnProgress | None = None,
    confirm: Confirm | None = None,
    choose: Callable[[str, list[str]], str | None] | None = None,
) -> RedriveResult:
    if request.engine not in ENGINES:
        raise UsageError("--engine must be auto, native or client")
    if request.selection.ids is not None and not request.selection.ids:
        raise UsageError("--ids lists no message id")
    if request.dlq.service == "amq":
        if request.engine == "native":
            raise no_native_move(request.dlq)
        copy_journal = default_copy_journal(request.dlq, _where(request.to)) if request.copy else None
        with _held_journal(request, copy_journal):
            return _activemq(backends, request, on_progress, confirm)
    if request.dlq.service != "sqs":
        raise UsageError(f"{request.dlq} is not a queue")
    with _held_journal(request, default_journal(request.dlq)):
        return _sqs(backends, request, on_progress, confirm, choose)


def _held_journal(request: RedriveRequest, default: Path | None) -> AbstractContextManager[object]:
    """A redrive that may write a journal holds it for the run, so a second one on the same file (any
    process) is refused before it touches a message or the journal."""
    if request.dry_run or request.engine == "native" or default is None:
        return nullcontext()
    return FileLock(
        request.journal or default,
        "the journal",
        "another redrive",
        "wait for it, or pass --journal for a separate one",
    )


def _where(target: Channel | None) -> str:
    return str(target) if target else "each message's original destination"


def _sqs(
    backends: Backends,
    request: RedriveRequest,
    on_progress: OnProgress | None,
    confirm: Confirm | None,
    choose: Callable[[str, list[str]], str | None] | None,
) -> RedriveResult:
    sqs = backends.sqs()
    target = _destination(backends, request.dlq, request.to, choose)
    if request.engine == "native" and request.selecting:
        raise UsageError(
            "the native engine cannot select (--max, --filter, --ids), copy or repair (--copy, --transform): "
            "use --engine client"
        )
    if request.engine == "native" and target.service != "sqs":
        raise UsageError(f"the native engine moves to SQS queues only, not to {target}: use --engine client")
    depth = int(sqs.queue_attributes(request.dlq).get("ApproximateNumberOfMessages", 0))
    if not request.dry_run:
        go_ahead(confirm, f"move up to {depth} messages from {request.dlq} to {target}?", "redrive")
    if (
        request.engine != "client"
        and not request.selecting
        and not request.dry_run
        and target.service == "sqs"
    ):
        native = backends.native_move(request.dlq)
        if request.engine == "native" or native.available():
            return _native(sqs, native, target, request.rate, depth, on_progress)
    return _client(backends, request, target, depth, on_progress)


def _destination(
    backends: Backends,
    dlq: Channel,
    to: Channel | None,
    choose: Callable[[str, list[str]], str | None] | None,
) -> Channel:
    if to is not None:
        if to.service == "amq":
            raise MsgctlError("redrive from SQS to ActiveMQ is not implemented yet")
        return to
    sources = backends.dlq_sources(dlq)
    if not sources:
        raise UsageError(f"no queue names {dlq} as its DLQ: pass --to")
    if len(sources) > 1:
        chosen = choose(f"{dlq} is the DLQ of several queues: move to which?", sources) if choose else None
        if chosen is None:
            raise UsageError(f"{dlq} is the DLQ of {', '.join(sources)}: pass --to to choose one")
        return parse_channel(chosen)
    return parse_channel(sources[0])


def _client(
    backends: Backends,
    request: RedriveRequest,
    target: Channel,
    depth: int | None,
    on_progress: OnProgress | None,
) -> RedriveResult:
    channel = request.dlq
    transform, program = request.repair()
    source = backends.dead_letter_source(channel)
    sink, _ = backends.outbound_target(target)
    path = request.journal or default_journal(channel)
    mode = "copy" if request.copy else "move"
    wanted = {"dlq": str(channel), "target": str(target), "mode": mode, "transform": program}
    recent_sends = 0
    if not request.dry_run and path.exists():
        recent_sends = check_journal(path, request.resume, wanted)
    elif request.resume:
        raise UsageError(f"nothing to resume: {path} does not exist")
    if recent_sends and sink.dedups:
        backends.warn(
            f"{recent_sends} messages went from {channel} to {target} less than 5 minutes ago: the target "
            "accepts and drops any of them sent again (the same deduplication id): they are not sent again, "
            "but listed as sent_recently and left in the DLQ (exit 3)"
        )
    journal = Journal(path) if not request.dry_run else None
    report = RedriveReport()
    options = RedriveOptions(
        selection=request.selection,
        copy=request.copy,
        dry_run=request.dry_run,
        rate=request.rate,
        concurrency=request.concurrency,
        hold_s=request.hold_s,
        transform=transform,
    )
    progress = ProgressCounter(on_progress, f"{channel} -> {target}", depth)
    try:
        if journal is not None:
            journal.set_meta(wanted | {"started": str(time.time())})
            if request.resume:
                resume(source, journal, report, request.copy)
        redrive(source, sink, journal, options, report, progress.advance, backends.warn)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; the journal {path} is kept: --resume finishes the redrive") from None
    finally:
        if journal is not None:
            journal.close()
    return _client_result(request, target, report, path)


def _client_result(
    request: RedriveRequest, target: Channel, report: RedriveReport, path: Path
) -> RedriveResult:
    channel = request.dlq
    result = RedriveResult(
        dlq=str(channel),
        target=str(target),
        engine="client",
        moved=report.moved,
        skipped=report.skipped,
        failed=dict(report.failed),
        possible_duplicates=sorted(report.possible_duplicates),
        would_move=list(report.would_move),
        dry_run=request.dry_run,
        notes=_client_notes(request, target, report),
        journal=None if request.dry_run else path,
        repairs=list(report.repairs),
    )
    if request.dry_run:
        result.summary = f"dry run: {len(report.would_move)} messages would move; nothing changed"
        result.document = {
            "dlq": str(channel),
            "target": str(target),
            "would_move": report.would_move,
            "skipped": report.skipped,
        }
        if request.transform is not None:
            result.document |= _repair_document(report.failed, report.skipped, report.repairs)
        if report.failed:
            result.exit_code = ExitCode.PARTIAL
        return result
    result.summary = (
        f"moved {report.moved}, skipped {report.skipped}, failed {len(report.failed)}; journal {path}"
    )
    result.document = {"dlq": str(channel), "target": str(target), "engine": "client", **report.to_json()}
    left_behind = report.still_held or report.not_received or report.not_handed_out
    if report.failed or report.deduplicated_by_target or report.sent_recently or left_behind:
        result.exit_code = ExitCode.PARTIAL
    return result


def _repair_document(failed: dict[str, str], skipped: int, repairs: list[Repaired]) -> dict[str, Any]:
    """A dry run's account of a repair: what the program could not repair, and each message before and
    after."""
    return {
        "skipped": skipped,
        "failed": [{"id": k, "reason": v} for k, v in sorted(failed.items())],
        "repairs": [
            {"id": r.before.id, "before": readable(r.before), "after": readable(r.envelope)} for r in repairs
        ],
    }


def _client_notes(request: RedriveRequest, target: Channel, report: RedriveReport) -> list[str]:
    channel, notes = request.dlq, []
    if report.returned:
        notes.append(
            f"{report.returned} returned to the DLQ while the redrive ran (dead-lettered again, or newly "
            f"arrived): left there, as a redrive moves each message at most once"
        )
    if report.not_received:
        notes.append(
            f"stopped receiving once it had as many messages as {channel} held at the start, or as many that "
            f"came in since (and a margin): {report.not_received} messages are left there, some perhaps from "
            "the start (not_received; run again for them)"
        )
    if report.not_handed_out and not request.dry_run:
        notes.append(
            f"{report.not_handed_out} messages {channel} shows were never handed out: a FIFO queue hands "
            "out no more of a group while one of its messages is held, and this run held the ones it did not "
            "move (skipped, failed or returned) to the end; they are left there (not_handed_out). A run with "
            "the same selection stops at the same messages: move those first, or widen the selection"
        )
    if report.still_held and not request.dry_run:
        notes.append(
            f"{report.still_held} messages of {channel} are still held (by another consumer, or by a receive "
            f"whose reply was lost) after waiting {report.waited_s:.0f} s: run again with --resume once "
            "they are visible"
        )
    if report.possible_duplicates:
        notes.append(
            f"{len(report.possible_duplicates)} messages may have been sent twice (listed in the output)"
        )
    if report.deduplicated_by_target:
        notes.append(
            f"{len(report.deduplicated_by_target)} messages were dropped by {target}: a copy with the same "
            "deduplication id went less than 5 minutes ago (deduplicated_by_target; they stay in the DLQ)"
        )
    if report.sent_recently:
        when = datetime.fromtimestamp(report.movable_at, UTC).strftime("%H:%M:%S UTC")
        notes.append(
            f"{len(report.sent_recently)} messages went to {target} less than 5 minutes ago, so it would "
            f"drop them: not sent again, they stay in the DLQ (sent_recently); they can be moved after {when}"
        )
    return notes


def check_journal(path: Path, resuming: bool, wanted: dict[str, str]) -> int:
    """An unfinished journal is only resumed, and only by the same redrive; a finished one is replaced,
    except for what it sent to the same target within the deduplication window (returns how many are
    kept), so a FIFO target's dropping a second copy can be told."""
    journal = Journal(path)
    try:
        unfinished = any(journal.counts().get(state) for state in UNFINISHED)
        recorded = {key: journal.meta(key) for key in wanted}
        same_pair = all(recorded[key] == wanted[key] for key in ("dlq", "target"))
        if not resuming and not unfinished and same_pair:
            return journal.keep_recent_sends(time.time() - DEDUP_WINDOW_S - DEDUP_MARGIN_S)
    finally:
        journal.close()
    if resuming:
        differing = [f"{k} was {recorded[k]}" for k, v in wanted.items() if recorded[k] not in (None, v)]
        if differing:
            raise UsageError(f"{path} records another redrive ({', '.join(differing)}): resume it as it was")
        return 0
    if unfinished:
        raise UsageError(
            f"{path} holds an unfinished redrive: --resume finishes it (starting afresh could send again "
            "what it already sent)"
        )
    path.unlink()
    return 0


def _activemq(
    backends: Backends, request: RedriveRequest, on_progress: OnProgress | None, confirm: Confirm | None
) -> RedriveResult:
    from msgctl.backends.activemq import BROWSE_CAP
    from msgctl.backends.activemq_redrive import PREFETCH

    channel, target, selection, copy = request.dlq, request.to, request.selection, request.copy
    if target is not None and target.service != "amq":
        raise MsgctlError("redrive from ActiveMQ to SQS/SNS is not implemented yet")
    depth = backends.activemq(channel).stats(channel).summary.depth
    where = _where(target)
    if not request.dry_run:
        go_ahead(confirm, f"move up to {depth} messages from {channel} to {where}?", "redrive")
    transform, program = request.repair()
    journal = (
        _copy_journal(request.journal, channel, where, program) if copy and not request.dry_run else None
    )
    mover = backends.activemq_redrive(channel, target, journal, transform)
    progress = ProgressCounter(on_progress, f"{channel} -> {where}", depth)
    try:
        # Without a selection, what the DLQ held at the start is the job: no idle wait after the last one.
        limit = selection.max
        if limit is None and selection.filter is None and selection.ids is None and not copy:
            limit = depth
        report = mover.run(selection.filter, selection.ids, limit, copy, request.dry_run, progress.advance)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the transaction under way was rolled back; what was committed has moved"
        ) from None
    finally:
        if journal is not None:
            journal.close()
    if report.stalled and depth is not None and report.moved + report.left >= depth:
        report.stalled = False  # it handed out all the DLQ held
    if report.stalled:
        report.notes.append(
            f"{report.left} messages were left in {channel} (skipped or failed, so not acked); the broker "
            f"hands a consumer at most {PREFETCH} it has not acked, so messages behind them may not have "
            "been reached: move or remove those first, then run again"
        )
    limit_reached = selection.max is not None and report.moved >= selection.max
    not_reached = _not_reached(report.browsed, depth, limit_reached, BROWSE_CAP)
    if not_reached:
        report.notes.append(
            f"{channel} holds {depth} messages but the broker browses only the first {BROWSE_CAP} "
            f"(maxBrowsePageSize), so {not_reached} were not copied; running again will not reach them "
            "(the journal skips what was copied): raise maxBrowsePageSize for this queue on the broker, "
            "or move them with dlq redrive without --copy"
        )
    selecting = selection.filter is not None or selection.ids is not None
    if selecting and not copy and (depth or 0) > BROWSE_CAP:
        report.notes.append(
            f"{channel} held {depth} messages: the broker applies a selector to the ~{BROWSE_CAP} it has "
            "paged in, so matching messages further back may remain: run again for them"
        )
    return _activemq_result(request, where, report, not_reached, journal)


def _activemq_result(
    request: RedriveRequest, where: str, report: AmqRedriveReport, not_reached: int, journal: Journal | None
) -> RedriveResult:
    result = RedriveResult(
        dlq=str(request.dlq),
        target=where,
        engine="stomp-transactions",
        moved=report.moved,
        failed=dict(report.failed),
        possible_duplicates=sorted(report.possible_duplicates),
        would_move=list(report.would_move),
        dry_run=request.dry_run,
        notes=list(report.notes),
        journal=journal.path if journal is not None else None,
        skipped=report.skipped,
        repairs=list(report.repairs),
    )
    if request.dry_run:
        result.document = {"dlq": str(request.dlq), "target": where, "would_move": report.would_move}
        if request.transform is not None:
            result.document |= _repair_document(report.failed, report.skipped, report.repairs)
        if report.failed:
            result.exit_code = ExitCode.PARTIAL
        return result
    extra = {"not_reached": not_reached, "journal": str(journal.path)} if journal is not None else {}
    result.document = {
        "dlq": str(request.dlq),
        "target": where,
        "engine": "stomp-transactions",
        **report.to_json(),
        **extra,
    }
    if report.failed or not_reached or report.stalled:
        result.exit_code = ExitCode.PARTIAL
    return result


def _copy_journal(path: Path | None, dlq: Channel, target: str, program: str) -> Journal:
    """The journal of what was copied from ``dlq`` to ``target`` (repaired by ``program``): kept across
    runs, so none repeats."""
    path = path or default_copy_journal(dlq, target)
    journal = Journal(path)
    wanted = {"dlq": str(dlq), "target": target, "mode": "copy", "transform": program}
    recorded = {key: journal.meta(key) for key in wanted}
    if any(value is not None and value != wanted[key] for key, value in recorded.items()):
        journal.close()
        raise UsageError(f"{path} records another redrive ({recorded}): pass another --journal")
    journal.set_meta(wanted)
    return journal


def _not_reached(browsed: int | None, depth: int | None, limit_reached: bool, cap: int) -> int:
    """How many messages a copy (a browse) could not look at: those behind the broker's browse page (none
    when it copied all --max asked for)."""
    if browsed is None or browsed < cap or depth is None or limit_reached:
        return 0
    return max(0, depth - browsed)


def _native(
    sqs: SqsBackend,
    native: NativeMove,
    target: Channel,
    rate: float | None,
    depth: int | None,
    on_progress: OnProgress | None,
) -> RedriveResult:
    destination = str(sqs.queue_attributes(target)["QueueArn"])
    handle = native.start(destination, rate)
    progress = ProgressCounter(on_progress, f"{native.dlq} -> {target} (native)", depth)
    try:
        while True:
            tasks = native.tasks()
            task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
            progress.update(
                int(task.get("ApproximateNumberOfMessagesMoved", 0)),
                task.get("ApproximateNumberOfMessagesToMove"),
            )
            if task.get("Status") in TERMINAL_TASK_STATES:
                break
            time.sleep(1)
    except KeyboardInterrupt:
        raise NativeMoveInterrupted(str(native.dlq), handle) from None
    moved = task.get("ApproximateNumberOfMessagesMoved")
    return RedriveResult(
        dlq=str(native.dlq),
        target=str(target),
        engine="native",
        moved=int(moved or 0),
        exit_code=ExitCode.OK if task.get("Status") == "COMPLETED" else ExitCode.FAILED,
        document={
            "dlq": str(native.dlq),
            "target": str(target),
            "engine": "native",
            "status": task.get("Status"),
            "moved": moved,
            "failure": task.get("FailureReason"),
        },
    )


def edit_dead_letter(
    backends: Backends,
    dlq: Channel,
    message_id: str,
    edit: Callable[[Envelope], Envelope | None],
    to: Channel | None = None,
    journal: Path | None = None,
) -> RedriveResult:
    """One dead letter, handed to ``edit`` while this run holds it, and moved as ``edit`` gives it back:
    a redrive of one (journaled; deleted from the DLQ only once the target confirmed it). ``edit`` returning
    None (left as it was) moves nothing."""
    repair = EditRepair(edit)
    notes: list[str] = []
    if (
        journal is None and dlq.service == "sqs"
    ):  # one per message: a redrive's, or another edit's, may be open
        default = default_journal(dlq)
        key = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        journal = default.with_name(f"{default.stem}-edit-{key}{default.suffix}")
    if journal is not None and _unfinished(journal):
        notes = _finish_stopped_edit(backends, dlq, journal)
    request = RedriveRequest(
        dlq=dlq,
        to=to,
        engine="client",
        selection=Selection(max=1, ids=frozenset({message_id})),
        concurrency=1,
        journal=journal,
        repairer=repair,
    )
    result = run_redrive(backends, request, confirm=lambda _: True)
    result.notes[:0] = notes
    if not repair.offered:
        result.notes.append(
            f"no message {message_id} was found in {dlq} (moved, or held by another consumer): nothing moved"
        )
        result.exit_code = ExitCode.PARTIAL
    elif repair.unchanged:
        result.summary = f"{message_id} was left as it was: nothing moved"
    return result


def _finish_stopped_edit(backends: Backends, dlq: Channel, path: Path) -> list[str]:
    """An edit that stopped: what it sent is deleted from the DLQ (while its receipt works), what it held is
    released, and the journal starts afresh, so the new edit is sent, never taken for the old one. Returns
    what to tell."""
    journal = Journal(path)
    report = RedriveReport()
    try:
        maybe_sent = [entry.message_id for entry in journal.in_state("received")]
        resume(backends.dead_letter_source(dlq), journal, report, copy=False)
        journal.keep_recent_sends(time.time() - DEDUP_WINDOW_S - DEDUP_MARGIN_S)
    finally:
        journal.close()
    notes = [f"an earlier edit had stopped ({path}); finished it first"]
    if report.cleaned_up:
        notes.append(f"it had sent {report.cleaned_up} message; now deleted from {dlq}")
    unsure = sorted({*maybe_sent, *report.possible_duplicates})
    if unsure:
        notes.append(f"it may have sent {', '.join(unsure)} (possible duplicates)")
    return notes


def _unfinished(path: Path) -> bool:
    if not path.exists():
        return False
    journal = Journal(path)
    try:
        return any(journal.counts().get(state) for state in UNFINISHED)
    finally:
        journal.close()
