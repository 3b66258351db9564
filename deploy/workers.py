"""The server's gunicorn worker class (`Worker`, below), the master that forks it
(`Arbiter`), and the worker's exit without interpreter teardown.

The model's onnxruntime session is built in the gunicorn master (preload_app) and the
workers are forked from it. onnxruntime's C++ teardown at interpreter exit waits on
threads that exist only in the master, so a forked worker that exits normally hangs
until the master SIGKILLs it at graceful_timeout: every SIGTERM (a deploy, a dyno
restart) would take the full 20 s and end in SIGKILLs. Reproduced with nothing but an
InferenceSession, os.fork() and sys.exit() in the child.

gunicorn calls `worker_exit` after the worker has finished its last request; from there
the worker flushes its logs and leaves with os._exit, keeping gunicorn's exit code.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import time
from importlib import metadata
from typing import Any, Iterator

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.arbiter import Arbiter as GunicornArbiter
from gunicorn.workers.ggevent import GeventWorker

# Seconds between a worker's heartbeats, and so its reaction time to a SIGTERM.
HEARTBEAT = 0.2


def pending_exit_code() -> int:
    """The code of the SystemExit being raised, as seen from gunicorn's finally block."""
    exc = sys.exc_info()[1]
    if isinstance(exc, SystemExit):
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 1 if exc is not None else 0


def exit_worker() -> None:
    """Flush logs and streams, then end the worker process at once."""
    code = pending_exit_code()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# -- the worker class: see docs/deploy.md, "Slow clients" ----------------------------


def drain(server: StreamServer) -> None:
    """Hand each connection still queued in the listen backlog to a handler, then close
    the listener: closed with them queued, the kernel would reset them, though their
    clients had sent their requests."""
    server.stop_accepting()
    while True:
        try:
            accepted = server.do_read()
        except ConnectionAbortedError:  # its client gave up while it was queued
            continue
        except OSError:  # out of file descriptors: the rest cannot be served
            break
        if not accepted:
            break
        server.do_handle(*accepted)
    server.close()


@contextlib.contextmanager
def entry_points_read_once() -> Iterator[None]:
    """importlib.metadata.entry_points answered from one reading of every installed
    distribution: gevent looks its plugins up once per module it patches, 25 readings
    that took 1.5-2.5 s of each worker's boot here."""
    read = metadata.entry_points
    everything = read()
    metadata.entry_points = lambda **select: everything.select(**select)
    try:
        yield
    finally:
        metadata.entry_points = read


class Address:
    """What a connection's handler asks of its listener, its address, kept for the
    connections drained after the listener closed."""

    def __init__(self, listener: Any) -> None:
        self.name = listener.getsockname()

    def getsockname(self) -> Any:
        return self.name


class Worker(GeventWorker):
    """gunicorn's gevent worker: a connection waits in a greenlet, not in the worker.

    A sync worker reads headers and body with no time limit, so two clients sending a
    byte now and then hold two workers. Here the headers must arrive within
    `keepalive` seconds (gunicorn's gevent worker already does that), the rest of a
    request (body, app, answer) within `timeout`, and at SIGTERM the connections queued
    in the listen backlog are answered before the listener closes.
    """

    def init_process(self) -> None:
        """Boot, minding a SIGTERM from the first moment: gunicorn sets the worker's
        handlers only after gevent's patching, and until then the master's handler (the
        fork's copy) swallowed the signal, so a worker stopped while booting lived on
        until SIGKILLed at graceful_timeout. A SIGTERM sent since the fork was held
        (`Arbiter`): it is taken here, by this handler."""
        signal.signal(signal.SIGTERM, self.handle_exit)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        super().init_process()

    def patch(self) -> None:
        """gunicorn's monkey-patching, without its slow plugin lookups."""
        with entry_points_read_once():
            super().patch()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        """One request, cut off `timeout` seconds after its headers arrived."""
        deadline = gevent.Timeout(self.cfg.timeout)
        deadline.start()
        try:
            return super().handle_request(listener_name, req, sock, addr)
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            self.log.warning(
                "closed a connection from %s: %s %s not done within %s s (a slow client)",
                addr[0] if addr else "?",
                req.method,
                req.path,
                self.cfg.timeout,
            )
            raise StopIteration() from None  # gunicorn's signal to close the connection
        finally:
            deadline.close()

    def run(self) -> None:
        """Serve until told to stop, drain the backlog, then let requests finish."""
        servers = [self.serve(listener) for listener in self.sockets]
        while self.alive:
            self.notify()
            gevent.sleep(HEARTBEAT)
        for server in servers:
            drain(server)
        limit = time.monotonic() + self.cfg.graceful_timeout
        while any(s.pool.free_count() != s.pool.size for s in servers):
            if time.monotonic() > limit:
                self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
                for server in servers:  # cut the requests still running
                    server.pool.kill(block=True, timeout=1)
                return
            self.notify()
            gevent.sleep(HEARTBEAT)

    def serve(self, listener: Any) -> StreamServer:
        """A started server handing each connection of `listener` to a greenlet."""
        listener.setblocking(1)
        server = StreamServer(
            listener,
            handle=functools.partial(self.handle, Address(listener)),
            spawn=Pool(self.worker_connections),
        )
        if self.cfg.workers > 1:  # accept one at a time: the others get their share
            server.max_accept = 1
        server.start()
        return server


class Arbiter(GunicornArbiter):
    """gunicorn's master, forking each worker with SIGTERM held until the worker has
    its own handler (Worker.init_process).

    Between the fork and that handler the child runs gunicorn's code with the master's
    handler, which queued a SIGTERM in the child's copy of the master's queue, where
    nothing read it: that worker served on until SIGKILLed at graceful_timeout, and the
    stop took the full 20 s. On a loaded machine that stretch lasts long enough to be
    hit by a stop sent just after the workers appear. Held, the signal waits in the
    kernel; the master's own copy is delivered as soon as the fork returns.
    """

    def spawn_worker(self) -> int:
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            return super().spawn_worker()
        finally:  # the master; a worker leaves through exit_worker, not through here
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
