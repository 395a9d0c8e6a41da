"""SIGTERM and SIGINT are recorded so the loop finishes the step in flight, saves and returns
`Preempted`; a second Ctrl-C interrupts, except inside `saving()` (it would hang orbax's writer)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Context manager: `requested` turns true on the first SIGTERM/SIGINT received inside it."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._saving = False
        self._interrupt_pending = False

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @contextlib.contextmanager
    def saving(self):
        """A second Ctrl-C inside this block is held until the block ends, then raised."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
            if self._interrupt_pending:
                self._interrupt_pending = False
                raise KeyboardInterrupt

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            if self._saving:
                self._interrupt_pending = True
                print("\nSIGINT received again: exiting as soon as the checkpoint is written", file=self.stream,
                      flush=True)
                return
            raise KeyboardInterrupt
        self.signum = signum
        print(f"\n{self.name} received: finishing the current step, then saving a checkpoint", file=self.stream,
              flush=True)

    def __enter__(self) -> "StopRequest":
        # Python only lets the main thread install handlers; elsewhere (a notebook worker) the loop
        # still runs, it just cannot be stopped by a signal.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
