"""Progress for long commands: a bar with rate and ETA on a terminal (`tqdm`, imported lazily when installed),
plain progress lines otherwise (logs, CI, pipes), or nothing."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any, TextIO

MODES = ("auto", "bar", "plain", "none")


class Progress:
    """Counts done units out of `total`. `mode`: auto (bar on a terminal, else lines), bar, plain, none."""

    def __init__(
        self,
        total: int,
        *,
        unit: str,
        out: TextIO,
        mode: str = "auto",
        every_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.unit = unit
        self.done = 0
        self._out = out
        self._clock = clock
        self._started = clock()
        self._every = every_seconds
        self._last_line = self._started
        self._bar: Any = None
        self.mode = _choose(mode, out)
        if self.mode == "bar":
            self._bar = _tqdm_bar(total, unit, out)
            if self._bar is None:
                self.mode = "plain"

    def update(self, count: int, note: str = "") -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
        elif self.mode == "plain" and self._clock() - self._last_line >= self._every:
            self._last_line = self._clock()
            self._line(note)

    def close(self, note: str = "") -> None:
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.close()
        elif self.mode == "plain" and self.total:
            self._line(note)

    def _line(self, note: str) -> None:
        elapsed = max(self._clock() - self._started, 1e-6)
        rate = self.done / elapsed
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = (self.total - self.done) / rate if rate > 0 and self.total else 0.0
        extra = f", {note}" if note else ""
        print(
            f"progress: {self.done:,}/{self.total:,} {self.unit}{share}{extra}, {rate:,.0f} {self.unit}/s, "
            f"ETA {_duration(left)}",
            file=self._out,
            flush=True,
        )


def _choose(mode: str, out: TextIO) -> str:
    if mode != "auto":
        return mode
    isatty = getattr(out, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "plain"


def _tqdm_bar(total: int, unit: str, out: TextIO) -> Any:
    try:  # optional: a well-kept bar with rate and ETA when it is installed
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=f" {unit}", unit_scale=True, file=out, dynamic_ncols=True, smoothing=0.1)


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
