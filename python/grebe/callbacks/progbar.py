"""A Keras-style progress bar on stdout:

    32/32 ━━━━━━━━━━━━━━━━━━━━ 1s 3ms/step - accuracy: 0.9102 - loss: 0.2873

On a terminal (or in Jupyter) the line redraws in place at most every `interval` seconds;
elsewhere (logs, pipes, CI) only the final line of each epoch is printed.
"""
from __future__ import annotations

import sys
import time


def _interactive() -> bool:
    out = sys.stdout
    return bool(getattr(out, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def format_value(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:.4f}" if abs(v) > 1e-3 or v == 0 else f"{v:.4e}"


def format_time_per_unit(t: float, unit: str) -> str:
    if t >= 1 or t == 0:
        return f"{t:.0f}s/{unit}"
    if t >= 1e-3:
        return f"{t * 1e3:.0f}ms/{unit}"
    return f"{t * 1e6:.0f}us/{unit}"


def _format_eta(eta: float) -> str:
    if eta > 3600:
        return f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
    if eta > 60:
        return f"{int(eta // 60)}:{int(eta % 60):02d}"
    return f"{int(eta)}s"


class Progbar:
    """Progress of `target` steps (None when unknown); `update(current, values)` with a dict
    or list of (name, value) pairs that are already averages (Keras's stateful metrics)."""

    def __init__(self, target, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 unit_name: str = "step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self._dynamic = _interactive()
        self._start = time.time()
        self._last_update = 0.0
        self._prev_width = 0
        self._values = {}
        self._done = False

    def update(self, current: int, values=None, finalize: bool | None = None) -> None:
        if values:
            self._values.update(values.items() if isinstance(values, dict) else values)
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if self.verbose == 0 or self._done:
            return
        now = time.time()
        if self.verbose == 2 or not self._dynamic:
            if finalize:
                self._write(self._line(current, now, finalize, compact=self.verbose == 2) + "\n")
                self._done = True
            return
        if not finalize and now - self._last_update < self.interval:
            return
        self._last_update = now
        line = self._line(current, now, finalize, compact=False)
        pad = max(0, self._prev_width - len(line))
        self._prev_width = len(line)
        self._write("\r" + line + " " * pad + ("\n" if finalize else ""))
        if finalize:
            self._done = True

    def _line(self, current, now, finalize, compact) -> str:
        elapsed = now - self._start
        per_unit = elapsed / current if current else 0.0
        if self.target is not None:
            digits = len(str(self.target))
            count = f"{current:>{digits}d}/{self.target}"
        else:
            count = f"{current:>7d}/Unknown"
        if compact:
            parts = [count, f"{int(elapsed)}s", format_time_per_unit(per_unit, self.unit_name)]
            line = " - ".join(parts)
        else:
            line = count
            if self.target is not None:
                filled = int(self.width * min(current, self.target) / max(self.target, 1))
                bar = "━" * filled + "─" * (self.width - filled)
                line += " " + bar
            if finalize or self.target is None:
                when = f"{int(elapsed)}s"
            else:
                when = _format_eta(per_unit * (self.target - current))
            line += f" {when} {format_time_per_unit(per_unit, self.unit_name)}"
        for k, v in self._values.items():
            line += f" - {k}: {format_value(v)}"
        return line

    @staticmethod
    def _write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
