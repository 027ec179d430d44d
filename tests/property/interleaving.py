"""Forced interleavings of concurrent invocations, deterministic and chosen by the test.

Each invocation runs in its own thread, but only one runs at a time: a thread runs until it reaches a *checkpoint*
(every call through a port wrapped by :class:`Interleaved`, before and after the call, and every sleep), parks there,
and the scheduler picks which thread runs next with ``choose`` (among those not asleep, if any) (a hypothesis draw, so that failures shrink to a
minimal schedule). A Pinterest call held at a checkpoint while another invocation runs to its end is exactly "hold a
Pinterest call until another invocation has finished".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class VirtualClock:
    """Time that moves only when told: a little per checkpoint, and by every sleep."""

    def __init__(self, start: datetime, tick: timedelta = timedelta(milliseconds=5)) -> None:
        self.now = start
        self._tick = tick

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def tick(self) -> None:
        self.now += self._tick


@dataclass
class _Worker:
    name: str
    body: Callable[[], Any]
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    done: bool = False
    sleeping: bool = False
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = None


class Scheduler:
    """Runs bodies one at a time, switching only at checkpoints, in the order ``choose`` picks."""

    def __init__(self, choose: Callable[[int], int], clock: VirtualClock, max_steps: int = 20_000) -> None:
        self._choose = choose
        self._clock = clock
        self._parked = threading.Semaphore(0)
        self._local = threading.local()
        self._max_steps = max_steps
        self.steps = 0

    def run(self, bodies: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Run every body to its end; their results by name (a body's exception is re-raised here)."""
        workers = [_Worker(name, body) for name, body in bodies.items()]
        for worker in workers:
            worker.thread = threading.Thread(target=self._main, args=(worker,), name=worker.name, daemon=True)
            worker.thread.start()
        alive = list(workers)
        while alive:
            self.steps += 1
            if self.steps > self._max_steps:
                raise RuntimeError("the invocations did not finish within the step bound")
            # A sleeping body lets the others run: it is picked only when every body left is asleep
            awake = [worker for worker in alive if not worker.sleeping] or alive
            worker = awake[self._choose(len(awake)) if len(awake) > 1 else 0]
            worker.sleeping = False
            worker.go.release()
            self._parked.acquire()
            if worker.done:
                alive.remove(worker)
        for worker in workers:
            assert worker.thread is not None
            worker.thread.join()
            if worker.error is not None:
                raise worker.error
        return {worker.name: worker.result for worker in workers}

    def checkpoint(self, *, sleeping: bool = False) -> None:
        """Called by a running body: give the turn back to the scheduler and wait to be picked again."""
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:  # not inside a scheduled body (setup, assertions): nothing to interleave
            return
        self._clock.tick()
        worker.sleeping = sleeping
        self._parked.release()
        worker.go.acquire()

    def sleep(self, seconds: float) -> None:
        self._clock.advance(seconds)
        self.checkpoint(sleeping=True)

    def _main(self, worker: _Worker) -> None:
        self._local.worker = worker
        worker.go.acquire()
        try:
            worker.result = worker.body()
        except BaseException as error:  # re-raised by run(), in the test's thread
            worker.error = error
        finally:
            worker.done = True
            self._parked.release()


class Interleaved:
    """A port whose every call is a checkpoint before and after (``before`` runs at the call, e.g. to inject a
    fault into the next request)."""

    def __init__(self, port: Any, scheduler: Scheduler, before: Callable[[str], None] | None = None) -> None:
        self._port = port
        self._scheduler = scheduler
        self._before = before

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._scheduler.checkpoint()
            if self._before is not None:
                self._before(name)
            try:
                return attribute(*args, **kwargs)
            finally:
                self._scheduler.checkpoint()

        return call
