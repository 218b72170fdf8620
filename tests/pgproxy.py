"""A fault-injecting TCP proxy for PostgreSQL's wire protocol, for tests.

The product connects to the proxy (``DATABASE_URL`` with the proxy's port); the proxy
forwards every connection to a real server (a private cluster of ``tests/pgcluster.py``)
and reads the client's messages as it forwards them, so that a test can break a
connection at an exact point of a transaction::

    with PgProxy(cluster.port) as proxy:
        url = proxy.url("postgres", "pipeworks")           # for DATABASE_URL
        proxy.fail_next("commit_applied", match=b"INSERT INTO event (")
        ...                                                # load through the product
        assert proxy.wait_for("commit_applied")
        fault = proxy.faults[0]                            # what that transaction sent

Faults (``FAULTS``), each ending with both sockets closed, so the client sees a lost
connection and the server sees its client gone:

- ``before_commit``: inside a transaction, a statement arrives after the matching one
  has completed (for ``match=None``: the first statement after ``BEGIN``); it is not
  forwarded. The server rolls the transaction back; the client lost its connection
  before sending COMMIT: nothing was written.
- ``commit_lost``: the client sends ``COMMIT``; it is not forwarded. Nothing was
  committed, but the client lost its connection at COMMIT: the outcome is unknown to it.
- ``commit_applied``: ``COMMIT`` is forwarded; the server's answer (CommandComplete,
  then ReadyForQuery) is read but not relayed. The transaction is committed, yet the
  client lost its connection at COMMIT, as when a server crashes right after flushing
  the commit record: the outcome is unknown to it, and the write happened.

Schedules (thread-safe, callable while load runs): ``fail_next(kind, times=1)`` fails the
next ``times`` eligible transactions, ``fail_every(kind, n)`` every ``n``-th one;
``match`` (bytes) restricts a fault to transactions with a statement containing it (e.g.
``b"INSERT INTO event ("``), seen in a simple Query, a Parse, or a Bind of a prepared
statement (psycopg prepares a statement after a few executions; the proxy remembers
each connection's prepared statements). ``injected`` counts the faults made,
``faults`` records each one with what its transaction sent, and ``wait_for`` waits for
them.

What the proxy relies on, true of psycopg 3 (and Django's transactions on it):

- ``BEGIN``, ``COMMIT`` and ``ROLLBACK`` are simple Query ('Q') messages; statements
  are either simple queries or extended-protocol groups (Parse/Bind/Describe/Execute)
  ending with Sync ('S'), and the client waits for a group's results before sending
  the next one;
- no TLS or GSS encryption: the proxy answers an SSLRequest or a GSSENCRequest "N" (not
  supported) itself, so the client goes on in clear (``sslmode=prefer``, the default,
  accepts that; set ``PGSSLMODE=disable`` to skip the round trip). A CancelRequest is
  forwarded as it is.
"""

import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

FAULTS = ("before_commit", "commit_lost", "commit_applied")
_COMMIT_FAULTS = ("commit_lost", "commit_applied")

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102
_STATEMENT_MESSAGES = frozenset(b"QPB")  # a statement's first message: Query, Parse, Bind
_SENT_LIMIT = 1 << 20  # bytes of a transaction's messages kept for its fault record
_WORDS = re.compile(rb"[A-Za-z]+")


@dataclass
class Fault:
    """One fault the proxy made, with what the broken transaction had sent."""

    kind: str
    connection: int  # serial number of the proxied connection, from 1
    statements: list[str]  # the transaction's statement texts, in order
    sent: bytes  # the raw messages the client sent in the transaction (first MiB)
    server_reply: str | None = None  # commit_applied: the withheld CommandComplete tag
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Rule:
    kind: str
    match: bytes | None
    every: int  # fire on every n-th eligible transaction
    times: int | None  # fires left; None: no limit
    seen: int = 0

    def eligible(self, texts: list[bytes]) -> bool:
        return self.match is None or any(self.match in text for text in texts)


class _Transaction:
    def __init__(self):
        self.texts: list[bytes] = []  # statement texts since BEGIN
        self.sent = bytearray()
        self.in_group = False  # an extended-protocol group has begun and not yet synced
        self.asked: set[int] = set()  # the rules that counted this transaction already

    def keep(self, message: bytes) -> None:
        if len(self.sent) < _SENT_LIMIT:
            self.sent += message[: _SENT_LIMIT - len(self.sent)]


class PgProxy:
    """Listen on a free loopback port and forward each connection to ``upstream_port``."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rules: list[_Rule] = []
        self._links: set[_Link] = set()
        self._injected: Counter = Counter()
        self._faults: list[Fault] = []
        self._connections = 0
        self._stopping = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name="pgproxy", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> "PgProxy":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def url(self, user: str = "postgres", dbname: str = "postgres") -> str:
        """Return a ``postgres://`` URL to the proxy (for ``DATABASE_URL``)."""
        return f"postgres://{user}@127.0.0.1:{self.port}/{dbname}"

    # -- schedules ----------------------------------------------------------------------

    def fail_next(self, kind: str, *, times: int = 1, match: bytes | None = None) -> None:
        """Make the next ``times`` eligible transactions fail with ``kind``."""
        self._add(_Rule(_checked(kind), match, every=1, times=times))

    def fail_every(
        self, kind: str, n: int, *, match: bytes | None = None, times: int | None = None
    ) -> None:
        """Make every ``n``-th eligible transaction fail with ``kind`` (``times`` at most)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        self._add(_Rule(_checked(kind), match, every=n, times=times))

    def clear(self) -> None:
        """Cancel every schedule; faults already made stay recorded."""
        with self._lock:
            self._rules.clear()

    # -- what happened ------------------------------------------------------------------

    @property
    def injected(self) -> Counter:
        """How many faults of each kind the proxy made."""
        with self._lock:
            return Counter(self._injected)

    @property
    def faults(self) -> list[Fault]:
        """Every fault made, in order."""
        with self._lock:
            return list(self._faults)

    @property
    def connections(self) -> int:
        """How many client connections the proxy accepted."""
        with self._lock:
            return self._connections

    def wait_for(self, kind: str, count: int = 1, *, timeout: float = 30) -> bool:
        """Wait until ``count`` faults of ``kind`` were made; return whether they were."""
        with self._changed:
            return self._changed.wait_for(lambda: self._injected[kind] >= count, timeout)

    def close(self) -> None:
        """Stop listening and close every proxied connection."""
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    # -- plumbing -----------------------------------------------------------------------

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _claim(self, kinds: tuple[str, ...], link: "_Link", tx: _Transaction) -> Fault | None:
        """Return the fault to make at this point of ``tx``, if a schedule says so.

        Rules are asked in the order they were added; each eligible one counts the
        transaction once (``before_commit`` may be asked at several of its statements),
        and the first that fires takes it.
        """
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or id(rule) in tx.asked or not rule.eligible(tx.texts):
                    continue
                tx.asked.add(id(rule))
                rule.seen += 1
                if rule.seen % rule.every:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return Fault(
                    kind=rule.kind,
                    connection=link.serial,
                    statements=[text.decode(errors="replace") for text in tx.texts],
                    sent=bytes(tx.sent),
                )
        return None

    def _made(self, fault: Fault) -> None:
        with self._changed:
            self._faults.append(fault)
            self._injected[fault.kind] += 1
            self._changed.notify_all()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self._connections += 1
                serial = self._connections
            link = _Link(self, client, serial)
            with self._lock:
                self._links.add(link)
            link.start()

    def _forget(self, link: "_Link") -> None:
        with self._lock:
            self._links.discard(link)


class _Link:
    """One proxied connection: a thread each way, the client's side parsed."""

    def __init__(self, proxy: PgProxy, client: socket.socket, serial: int):
        self.proxy = proxy
        self.client = client
        self.server: socket.socket | None = None
        self.serial = serial
        self.tx: _Transaction | None = None
        self.prepared: dict[bytes, bytes] = {}  # statement name -> query text
        self.withheld: Fault | None = None  # commit_applied: the COMMIT's answer is held
        self._closed = False
        self._close_lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(
            target=self._client_side, name=f"pgproxy-{self.serial}", daemon=True
        ).start()

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        for sock in (self.client, self.server):
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.proxy._forget(self)

    # -- client -> server ---------------------------------------------------------------

    def _client_side(self) -> None:
        try:
            startup = self._startup()
            if startup is None:
                return
            try:
                server = socket.create_connection(self.proxy.upstream, timeout=10)
            except OSError:
                return  # the server is down: the client sees its connection closed
            server.settimeout(None)
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._close_lock:
                if self._closed:  # the proxy is closing
                    server.close()
                    return
                self.server = server
            threading.Thread(
                target=self._server_side, name=f"pgproxy-{self.serial}-s", daemon=True
            ).start()
            self.server.sendall(startup)
            if int.from_bytes(startup[4:8], "big") == _CANCEL_REQUEST:
                return self._drain_client()
            buffer = bytearray()
            while True:
                data = self.client.recv(65536)
                if not data:
                    return
                buffer += data
                for message in take_messages(buffer):
                    if not self._from_client(message):
                        return
        except OSError:
            return
        finally:
            if self.withheld is None:
                self.close()

    def _startup(self) -> bytes | None:
        """Read the startup packet, answering SSL and GSS encryption requests "N"."""
        while True:
            head = self._recv_exactly(4)
            if head is None:
                return None
            body = self._recv_exactly(int.from_bytes(head, "big") - 4)
            if body is None:
                return None
            if int.from_bytes(body[:4], "big") in (_SSL_REQUEST, _GSSENC_REQUEST):
                self.client.sendall(b"N")
                continue
            return head + body

    def _recv_exactly(self, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = self.client.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def _drain_client(self) -> None:
        while self.client.recv(65536):
            pass

    def _from_client(self, message: bytes) -> bool:
        """Forward one client message, or make a fault; False once the link is closed."""
        kind = message[0]
        payload = message[5:]
        tx = self.tx
        if kind == ord("Q"):
            text = payload.rstrip(b"\0")
            verb = _verb(text)
            if verb == "begin":
                self.tx = _Transaction()
                self.tx.keep(message)
                self.server.sendall(message)
                return True
            if verb == "commit" and tx is not None:
                return self._commit(tx, message)
            if verb == "rollback":
                self.tx = None
                self.server.sendall(message)
                return True
            if tx is not None:
                if not self._statement(tx, text, message):
                    return False
                tx.texts.append(text)  # a Query is a group of its own
        elif kind == ord("P"):
            name, rest = _cstring(payload)
            query, _ = _cstring(rest)
            self.prepared[name] = query
            if tx is not None:
                if not self._statement(tx, query, message):
                    return False
                tx.in_group = True  # its text counts when a Bind executes it
        elif kind == ord("B"):
            _portal, rest = _cstring(payload)
            name, _ = _cstring(rest)
            if tx is not None:
                query = self.prepared.get(name, b"")
                if not self._statement(tx, query, message):
                    return False
                tx.in_group = True
                tx.texts.append(query)
        elif kind == ord("S") and tx is not None:
            tx.in_group = False
        if tx is not None:
            tx.keep(message)
        self.server.sendall(message)
        return True

    def _statement(self, tx: _Transaction, text: bytes, message: bytes) -> bool:
        """A statement's message in a transaction: ``before_commit`` may break it here."""
        if tx.in_group:
            return True  # the group's first message was the point to break at
        fault = self.proxy._claim(("before_commit",), self, tx)
        if fault is None:
            return True
        fault.statements.append(f"(not sent) {text.decode(errors='replace')}")
        self.close()
        self.proxy._made(fault)
        return False

    def _commit(self, tx: _Transaction, message: bytes) -> bool:
        self.tx = None
        tx.keep(message)
        fault = self.proxy._claim(_COMMIT_FAULTS, self, tx)
        if fault is None:
            self.server.sendall(message)
            return True
        if fault.kind == "commit_lost":
            self.close()
            self.proxy._made(fault)
            return False
        # commit_applied: the server side withholds the answer, then closes the link.
        self.withheld = fault
        self.server.sendall(message)
        return True

    # -- server -> client ---------------------------------------------------------------

    def _server_side(self) -> None:
        buffer = bytearray()
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    return
                buffer += data
                out = bytearray()
                for message in take_messages(buffer):
                    fault = self.withheld
                    if fault is None:
                        out += message
                    elif message[0] == ord("C"):
                        fault.server_reply = message[5:].rstrip(b"\0").decode(errors="replace")
                    elif message[0] == ord("E"):
                        fault.server_reply = "error"
                    elif message[0] == ord("Z"):
                        # The COMMIT's answer is complete and was not relayed.
                        if out:
                            self.client.sendall(out)
                        self.close()
                        self.proxy._made(fault)
                        return
                if out:
                    self.client.sendall(out)
        except OSError:
            return
        finally:
            self.close()


def take_messages(buffer: bytearray) -> Iterator[bytes]:
    """Remove and yield the complete messages (type byte, then length) at the buffer's front.

    A message cut short by the network stays in the buffer for the next read.
    """
    while len(buffer) >= 5:
        end = 1 + int.from_bytes(buffer[1:5], "big")
        if len(buffer) < end:
            return
        message = bytes(buffer[:end])
        del buffer[:end]
        yield message


def _checked(kind: str) -> str:
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
    return kind


def _cstring(data: bytes) -> tuple[bytes, bytes]:
    """Split a NUL-terminated string off the front of ``data``."""
    end = data.find(b"\0")
    if end < 0:
        return data, b""
    return data[:end], data[end + 1 :]


def _verb(text: bytes) -> str | None:
    """Say whether a simple query begins, commits or rolls back a transaction."""
    words = [word.upper() for word in _WORDS.findall(text[:64])][:3]
    if not words:
        return None
    if words[0] == b"BEGIN" or words[:2] == [b"START", b"TRANSACTION"]:
        return "begin"
    rest = words[1:]
    if words[0] in (b"COMMIT", b"END") and rest in ([], [b"WORK"], [b"TRANSACTION"]):
        return "commit"
    if words[0] in (b"ROLLBACK", b"ABORT") and rest in ([], [b"WORK"], [b"TRANSACTION"]):
        return "rollback"
    return None
