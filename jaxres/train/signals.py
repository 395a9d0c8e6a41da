"""Stop requests from SIGTERM (preemption, `kill`) and SIGINT (Ctrl-C).

The handler only records the request; the loop finishes the step in flight, saves a checkpoint
synchronously and returns a `Preempted` result. Killing mid-step would leave the donated state's
buffers half-consumed, so a first signal never interrupts; a second Ctrl-C does (KeyboardInterrupt),
for a person who really wants out now.
"""

from __future__ import annotations

import signal
import sys
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Context manager: `requested` turns true on the first SIGTERM/SIGINT received inside it."""

    def __init__(self, signals=SIGNALS, stream=None):
        self.signals = tuple(signals)
        self.stream = stream or sys.stderr
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        name = signal.Signals(signum).name
        self.stream.write(f"\n{name} received: finishing the current step, then saving a checkpoint\n")
        self.stream.flush()

    def __enter__(self) -> "StopRequest":
        # Python only lets the main thread install handlers; elsewhere (a notebook worker) the loop
        # still runs, it just cannot be stopped by a signal.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.signals}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
