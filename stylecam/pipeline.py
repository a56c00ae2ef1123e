"""The one frame pipeline: source -> network -> sink, each stage in its own thread.

The source (a decoder or a capture loop) and the network stage run in threads; results
come back to the calling thread (the encoder, or the window, which must own the GUI)
through ``results()``. Queues are bounded, so memory stays flat and the slowest stage
sets the pace. ``latest_only=True`` swaps the first queue for a one-slot mailbox where the
newest frame replaces an unprocessed older one (live: no backlog, low latency).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

_END = object()


class Mailbox:
    """A one-slot queue whose ``put`` never blocks: the newest item wins."""

    def __init__(self):
        self._item, self._full = None, False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item, timeout=None):
        with self._cond:
            if self._full and self._item is not _END:
                self.dropped += 1
            if not (self._full and self._item is _END):
                self._item, self._full = item, True
            self._cond.notify()

    def get(self, timeout=None):
        with self._cond:
            if not self._cond.wait_for(lambda: self._full, timeout):
                raise queue.Empty
            item, self._item, self._full = self._item, None, False
            return item

    def get_nowait(self):
        return self.get(timeout=0)


@dataclass
class StageTimes:
    """Seconds each stage spent working (not waiting), and frames through them."""

    source: float = 0.0
    network: float = 0.0
    sink: float = 0.0
    frames: int = 0
    dropped: int = 0
    extra: dict = field(default_factory=dict)

    def shares(self) -> dict[str, float]:
        total = self.source + self.network + self.sink or 1.0
        return {k: getattr(self, k) / total for k in ("source", "network", "sink")}


class Pipeline:
    """Run ``process`` (a batch of frames' images -> the same number of output images)
    over the frames that ``source`` yields.

    ``source`` yields objects with an ``image`` attribute (H, W, 3 uint8); ``results()``
    yields ``(frame, output_image)`` pairs in order. ``stop_source`` is called to unblock a
    source waiting on I/O when the pipeline stops early.
    """

    def __init__(
        self,
        source: Iterable,
        process: Callable[[np.ndarray], np.ndarray],
        batch: int = 1,
        queue_size: int | None = None,
        latest_only: bool = False,
        stop_source: Callable[[], None] | None = None,
    ):
        self.batch = max(1, int(batch))
        size = queue_size or 2 * self.batch + 2
        self._in = Mailbox() if latest_only else queue.Queue(size)
        self._latest_only = latest_only
        self._out: queue.Queue = queue.Queue(size)
        self._source, self._process, self._stop_source = source, process, stop_source
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self.times = StageTimes()
        self._threads = [
            threading.Thread(target=self._guard, args=(f,), daemon=True, name=n)
            for f, n in ((self._read, "stylecam-source"), (self._stylize, "stylecam-network"))
        ]
        self._started = False

    # -- threads
    def _guard(self, fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self._errors.append(e)
            self._stop.set()

    def _put(self, q, item):
        """Put, waiting for room; False if the pipeline stopped meanwhile."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def _read(self):
        it = iter(self._source)
        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                break
            self.times.source += time.perf_counter() - t
            if not self._put(self._in, frame):
                return
        self._put(self._in, _END)

    def _start(self, images):
        """Submit a batch; what it returns gives the outputs."""
        submit = getattr(self._process, "submit", None)
        if submit is not None:
            return submit(images)
        outs = self._process(images)
        return lambda: outs

    def _emit(self, group, started) -> bool:
        t = time.perf_counter()
        outs = started()
        self.times.network += time.perf_counter() - t
        for f, o in zip(group, outs):
            if not self._put(self._out, (f, o)):
                return False
        return True

    def _stylize(self):
        # With one batch in flight the next goes to the device before this one comes back; live
        # keeps none, as a batch waiting behind another would be a frame of latency.
        in_flight, pending = 0 if self._latest_only else 1, collections.deque()
        done = False
        while not done and not self._stop.is_set():
            frames = []
            while len(frames) < self.batch:
                try:
                    item = self._in.get(timeout=0.05)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is _END:
                    done = True
                    break
                frames.append(item)
                if isinstance(self._in, Mailbox):
                    break
            for group in _same_size_runs(frames):
                t = time.perf_counter()
                pending.append((group, self._start(np.stack([f.image for f in group]))))
                self.times.network += time.perf_counter() - t
                while len(pending) > in_flight:
                    if not self._emit(*pending.popleft()):
                        return
        while pending:
            if not self._emit(*pending.popleft()):
                return
        self._put(self._out, _END)

    # -- the caller's side
    def start(self) -> Pipeline:
        if not self._started:
            self._started = True
            for t in self._threads:
                t.start()
        return self

    def results(self, poll: float | None = None) -> Iterator[tuple | None]:
        """Yield ``(frame, output)`` until the source ends; with ``poll`` (seconds), yield
        None whenever nothing arrived for that long (for a GUI's event loop). Raises the
        first error of any stage; stops the stages if the caller stops early or raises."""
        self.start()
        try:
            while True:
                try:
                    item = self._out.get(timeout=poll if poll else 0.1)
                except queue.Empty:
                    if self._errors:
                        raise self._errors[0] from None
                    if poll:
                        yield None
                    continue
                if item is _END:
                    break
                t = time.perf_counter()
                self.times.frames += 1
                yield item
                self.times.sink += time.perf_counter() - t
            if self._errors:
                raise self._errors[0]
        finally:
            self.stop()

    def stop(self, timeout: float = 5.0):
        self._stop.set()
        if self._stop_source:
            self._stop_source()
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join(timeout)
        if isinstance(self._in, Mailbox):
            self.times.dropped = self._in.dropped


def _same_size_runs(frames):
    """Split a batch where the frame size changes (np.stack needs one size)."""
    run = []
    for f in frames:
        if run and f.image.shape != run[0].image.shape:
            yield run
            run = []
        run.append(f)
    if run:
        yield run
