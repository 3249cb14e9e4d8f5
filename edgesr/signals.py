"""SIGTERM handled like Ctrl-C, so ``kill``, ``docker stop`` and systemd stop a run cleanly.

Python turns SIGINT into ``KeyboardInterrupt`` but lets SIGTERM kill the process at once: a video
run would then leave only its hidden temp file, not the playable ``NAME.partial.EXT`` (with audio)
that Ctrl-C leaves. Inside :func:`sigterm_interrupts`, SIGTERM raises :class:`Terminated` in the
main thread instead; it subclasses ``KeyboardInterrupt``, so every cleanup path written for Ctrl-C
(the video pipeline's partial output, a live recording's finalisation) runs unchanged.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

#: exit status of a process stopped by SIGTERM (128 + 15), as shells report it
EXIT_SIGTERM = 128 + signal.SIGTERM


def signal_label(name: str | None) -> str:
    """How a message names the signal that stopped a run: ``"Ctrl-C (SIGINT)"`` or ``"SIGTERM"`` (a message must
    never blame SIGTERM for a Ctrl-C, nor the reverse)."""
    if name in ("SIGINT", "KeyboardInterrupt"):
        return "Ctrl-C (SIGINT)"
    return name or "SIGTERM"


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives inside :func:`sigterm_interrupts`."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}")


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the duration of the block (main thread only;
    elsewhere a no-op, since Python delivers signals to the main thread). The previous handler is
    restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
