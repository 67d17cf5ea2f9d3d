"""SIGTERM unwinds like Ctrl-C in the commands that run Lava (``ds2ta-sim``, ``ds2ta demo``).

A scheduler's or ``kill``'s SIGTERM would otherwise end the process at once and leave Lava's child
processes and shared memory behind; raised as :class:`Terminated` (a ``KeyboardInterrupt``), it goes
through the same ``finally`` blocks as Ctrl-C, which stop the Lava runtime and free what it held.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

SIGTERM_STATUS = 128 + signal.SIGTERM  # the exit status of a command stopped by SIGTERM
SIGINT_STATUS = 130                    # ... by Ctrl-C (SIGINT)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, ``kill``): unwinds like Ctrl-C, so Lava's processes and memory are freed."""


def _on_sigterm(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated`; the previous handler comes back after it.
    Off the main thread (where Python cannot install handlers) the block runs unchanged."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
