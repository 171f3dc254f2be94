"""One STOMP 1.2 connection with stomp.py: connecting (failover across the endpoints, TLS), heart-beats,
receipts, and the frames plumbing (subscriptions, acks, transactions) the ActiveMQ modules build on."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msgctl.broker import BrokerTarget
from msgctl.errors import AccessDeniedError, MsgctlError, UsageError

log = logging.getLogger(__name__)
# stomp.py logs connection failures as warnings; msgctl reports them as its own one-line error instead
# (--debug still shows them: the root handler gets them by propagation).
logging.getLogger("stomp.py").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Frame:
    headers: dict[str, str]
    body: bytes


class _Listener:
    """Routes incoming frames: MESSAGEs by subscription id, RECEIPTs and ERRORs by receipt id."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, queue.Queue[Frame | MsgctlError]] = {}
        self.receipts: dict[str, queue.Queue[Frame | MsgctlError]] = {}
        self.connect_error: str | None = None
        self.connected = False
        self.answered = threading.Event()  # CONNECTED, an ERROR, or the connection closed: CONNECT is over

    def on_connected(self, frame: Any) -> None:
        self.connected = True
        self.answered.set()

    def on_message(self, frame: Any) -> None:
        target = self.subscriptions.get(frame.headers.get("subscription", ""))
        if target is not None:
            target.put(Frame(dict(frame.headers), _as_bytes(frame.body)))

    def on_receipt(self, frame: Any) -> None:
        waiter = self.receipts.get(frame.headers.get("receipt-id", ""))
        if waiter is not None:
            waiter.put(Frame(dict(frame.headers), b""))

    def on_error(self, frame: Any) -> None:
        message = frame.headers.get("message", "broker error")
        waiter = self.receipts.get(frame.headers.get("receipt-id", ""))
        if waiter is not None:
            waiter.put(_stomp_error(message))
        else:
            self.connect_error = message
            self.answered.set()
            self._fail_all(_stomp_error(message))

    def on_disconnected(self) -> None:
        self.answered.set()
        self._fail_all(MsgctlError("the broker closed the connection", "Disconnected"))

    def _fail_all(self, error: MsgctlError) -> None:
        """Wake every wait with the error instead of letting it run into its timeout."""
        for pending in [*self.receipts.values(), *self.subscriptions.values()]:
            pending.put(error)


class PendingReceipt:
    """A frame sent with a receipt header; ``wait`` returns once the broker confirmed it, or raises."""

    def __init__(
        self,
        waiting: dict[str, queue.Queue[Frame | MsgctlError]],
        receipt: str,
        timeout_message: str,
        timeout_s: float,
    ) -> None:
        self.waiting, self.receipt, self.timeout_message = waiting, receipt, timeout_message
        self.timeout_s = timeout_s
        self.inbox: queue.Queue[Frame | MsgctlError] = queue.Queue()
        waiting[receipt] = self.inbox

    def wait(self) -> None:
        try:
            next_frame(self.inbox, self.timeout_message, self.timeout_s)
        finally:
            self.waiting.pop(self.receipt, None)


class StompSession:
    """One STOMP connection with request/reply helpers; a context manager that disconnects on exit."""

    def __init__(self, target: BrokerTarget) -> None:
        self.target = target
        self._listener = _Listener()
        self._conn: Any = None
        self._connecting = threading.Lock()
        self._wire: _Wire | None = None
        self.reply_timeout_s = target.timeouts.read

    def __enter__(self) -> StompSession:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        import stomp
        from stomp.exception import ConnectFailedException

        hosts = [(e.host, e.port) for e in self.target.endpoints]
        timeouts = self.target.timeouts
        heartbeat_ms = int(timeouts.read * 1000)
        conn = stomp.Connection12(
            host_and_ports=hosts,
            heartbeats=(heartbeat_ms, heartbeat_ms),
            auto_decode=False,
            reconnect_attempts_max=1,
            timeout=timeouts.connect,
        )
        # The message type is chosen per frame (body_headers): a content-length makes a BytesMessage.
        conn.auto_content_length = False
        if self.target.ca_file and not Path(self.target.ca_file).expanduser().is_file():
            raise UsageError(f"CA file {self.target.ca_file}: no such file")
        for endpoint in self.target.endpoints:
            if endpoint.ssl:
                conn.set_ssl(
                    for_hosts=[(endpoint.host, endpoint.port)],
                    ca_certs=str(Path(self.target.ca_file).expanduser()) if self.target.ca_file else None,
                    verify=self.target.verify,
                )
        conn.set_listener("msgctl", self._listener)
        try:
            # stomp.py's own wait for CONNECTED has no limit: an endpoint that accepts and never answers
            # would hold msgctl forever. The listener says when CONNECT is over, within the connect timeout.
            conn.connect(
                self.target.user, self.target.password, wait=False, headers={"client-id": new_id("msgctl")}
            )
        except (ConnectFailedException, OSError) as exc:
            _stop(conn)
            raise self._connect_failure() from exc
        if not self._listener.answered.wait(timeouts.connect) or not self._listener.connected:
            _stop(conn)
            raise self._connect_failure(self._no_answer(timeouts.connect))
        self._conn = conn
        log.info("connected to %s", self.target.label)

    def _no_answer(self, connect_timeout: float) -> str:
        if self._listener.answered.is_set():
            return "the endpoint closed the connection without a STOMP answer: is this a STOMP port?"
        return f"no STOMP answer within {connect_timeout:g} s (a paused broker, or not a STOMP port?)"

    def _connect_failure(self, fallback: str | None = None) -> MsgctlError:
        reason = self._listener.connect_error
        if reason and ("User name" in reason or "password" in reason or "ecurity" in reason):
            return AccessDeniedError(f"broker {self.target.label} refused the login: {reason}", "STOMP ERROR")
        detail = reason or self._tls_problem() or fallback or "connection refused or timed out"
        return MsgctlError(f"cannot connect to broker {self.target.label}: {detail}", "ConnectFailed")

    def _tls_problem(self) -> str | None:
        """Why a TLS handshake fails, in words (stomp.py only reports that it could not connect)."""
        import socket
        import ssl

        for endpoint in (e for e in self.target.endpoints if e.ssl):
            context = ssl.create_default_context(cafile=self.target.ca_file)
            if not self.target.verify:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            try:
                with (
                    socket.create_connection(
                        (endpoint.host, endpoint.port), timeout=self.target.timeouts.connect
                    ) as raw,
                    context.wrap_socket(raw, server_hostname=endpoint.host),
                ):
                    continue
            except ssl.SSLCertVerificationError as exc:
                return (
                    f"the TLS certificate of {endpoint} is not trusted ({exc.verify_message}): "
                    "pass --ca-file with its CA, or --insecure"
                )
            except ssl.SSLError as exc:
                return f"TLS handshake with {endpoint} failed: {exc.reason or exc}"
            except OSError:
                continue
        return None

    def close(self) -> None:
        if self._conn is not None:
            _stop(self._conn)
            self._conn = None

    @property
    def conn(self) -> Any:
        """The stomp.py connection, its errors (a connection lost mid-way) turned into msgctl's own."""
        with self._connecting:  # workers share the session: one connection, made once
            if self._conn is None:
                self.connect()
            if self._wire is None or self._wire.raw is not self._conn:
                self._wire = _Wire(self._conn, self.target.label)
            return self._wire

    def subscribe(
        self, destination: str, headers: dict[str, str] | None = None, ack: str = "auto"
    ) -> tuple[str, queue.Queue[Frame | MsgctlError]]:
        sub_id = new_id("sub")
        inbox: queue.Queue[Frame | MsgctlError] = queue.Queue()
        self._listener.subscriptions[sub_id] = inbox
        self.conn.subscribe(destination, id=sub_id, ack=ack, headers=headers or {})
        return sub_id, inbox

    def receive(
        self, inbox: queue.Queue[Frame | MsgctlError], what: str, timeout_s: float | None = None
    ) -> Frame:
        wait_s = self.reply_timeout_s if timeout_s is None else timeout_s
        return next_frame(inbox, f"nothing received from {what} within {wait_s:g} s", wait_s)

    def nack(self, frame: Frame) -> None:
        """Refuse a message; ActiveMQ sends a NACKed message straight to its DLQ."""
        self._confirmed("NACK", lambda receipt: self.conn.nack(frame.headers["ack"], receipt=receipt))

    def ack(self, frame: Frame) -> None:
        self._confirmed("ACK", lambda receipt: self.conn.ack(frame.headers["ack"], receipt=receipt))

    def commit(self, transaction: str) -> None:
        """COMMIT, confirmed by the broker's RECEIPT (or its ERROR)."""
        self.start_commit(transaction).wait()

    def start_commit(self, transaction: str) -> PendingReceipt:
        """COMMIT without waiting: the caller waits on the result, so the broker can write one transaction
        while the next one is being sent."""
        return self._request(
            f"COMMIT {transaction}",
            lambda receipt: self.conn.commit(transaction=transaction, headers={"receipt": receipt}),
        )

    def touch(self, destination: str) -> None:
        """Make a destination exist: subscribe (confirmed by a receipt), then unsubscribe."""
        sub_id = new_id("sub")
        self._confirmed(
            f"SUBSCRIBE {destination}",
            lambda receipt: self.conn.subscribe(
                destination, id=sub_id, ack="auto", headers={"receipt": receipt}
            ),
        )
        self.conn.unsubscribe(id=sub_id)

    def _confirmed(self, what: str, frame: Callable[[str], None]) -> None:
        """Send a frame with a receipt header and wait for the broker's RECEIPT (or its ERROR)."""
        self._request(what, frame).wait()

    def _request(self, what: str, frame: Callable[[str], None]) -> PendingReceipt:
        receipt = new_id("rcpt")
        pending = PendingReceipt(
            self._listener.receipts,
            receipt,
            f"no receipt from {self.target.label} for {what} within {self.reply_timeout_s:g} s",
            self.reply_timeout_s,
        )
        try:
            frame(receipt)
        except BaseException:
            self._listener.receipts.pop(receipt, None)
            raise
        return pending

    def unsubscribe(self, sub_id: str) -> None:
        self.conn.unsubscribe(id=sub_id)
        self._listener.subscriptions.pop(sub_id, None)

    def send(self, destination: str, body: bytes, headers: dict[str, str]) -> None:
        """SEND and wait for the broker's RECEIPT, so a returned call means the broker has the message."""
        self._confirmed(
            f"the message sent to {destination}",
            lambda receipt: self.conn.send(destination, body, headers={**headers, "receipt": receipt}),
        )


def body_headers(body: bytes, bytes_message: bool) -> dict[str, str]:
    """How the broker types the message: a content-length without ``amq-msg-type:text`` makes a
    BytesMessage; no content-length a TextMessage (which cannot hold a NUL without one)."""
    if bytes_message or not _is_text(body):
        return {"content-length": str(len(body))}
    if b"\x00" in body:
        return {"amq-msg-type": "text", "content-length": str(len(body))}
    return {}


def is_bytes_message(headers: dict[str, str]) -> bool:
    """A delivered BytesMessage carries a content-length; a TextMessage only when sent with
    ``amq-msg-type:text`` (which the broker then keeps as a property, as it keeps the content-length)."""
    return "content-length" in headers and headers.get("amq-msg-type") != "text"


def next_frame(inbox: queue.Queue[Any], timeout_message: str, timeout_s: float) -> Frame:
    """The next frame, or the error the listener put there (ERROR frame, dropped connection)."""
    try:
        item = inbox.get(timeout=timeout_s)
    except queue.Empty:
        raise MsgctlError(timeout_message, "Timeout") from None
    if isinstance(item, MsgctlError):
        raise item
    return item  # type: ignore[no-any-return]


def _stomp_error(message: str) -> MsgctlError:
    if "not authorized" in message.lower() or "ecurity" in message:
        return AccessDeniedError(message, "STOMP ERROR")
    return MsgctlError(message, "STOMP ERROR")


def _as_bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else str(body or "").encode("utf-8")


def _is_text(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class _Wire:
    """A stomp.py connection whose calls raise MsgctlError instead of stomp.py's exceptions."""

    def __init__(self, conn: Any, label: str) -> None:
        self.raw, self._label = conn, label

    def send(self, destination: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
        """A frame without a type of its own goes as text when it can, else as bytes (never cut at a NUL)."""
        if "content-length" not in headers:
            headers = {**body_headers(body, False), **headers}
        return self.__getattr__("send")(destination, body, headers=headers, **kwargs)

    def __getattr__(self, name: str) -> Any:
        from stomp.exception import StompException

        attribute = getattr(self.raw, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except (StompException, OSError) as exc:
                detail = str(exc) or type(exc).__name__
                raise MsgctlError(
                    f"lost the connection to broker {self._label} ({detail})", "Disconnected"
                ) from exc

        return call


def _stop(conn: Any) -> None:
    try:
        if conn.is_connected():
            conn.disconnect()
    except Exception:  # closing is best effort; the socket goes with the process anyway
        pass
