"""The sandbox's own anti-flooding filter: per number, at most N varied and M identical
messages per window (ANTS default 20 and 6 per hour) -> 20 REJECTED_FLOODING_FILTER.

Per number it keeps one flat list [t0, text0, t1, text1, ...] of accepted
messages; `t` is the request's shared float and `text` the message's shared
string, so a number seen once costs one small list.
"""

from __future__ import annotations

from sandbox.limits import parse_limit
from sandbox.settings import FloodSettings


class FloodingFilter:
    def __init__(self, settings: FloodSettings) -> None:
        self._settings = settings
        self._events: dict[str, list] = {}
        self._last_sweep = 0.0
        self.configure()

    def configure(self) -> None:
        """Re-read the limits (after a runtime settings change)."""
        varied = parse_limit(self._settings.varied)
        identical = parse_limit(self._settings.identical)
        assert varied is not None and identical is not None  # checked by settings.check
        self.enabled = self._settings.enabled
        self._varied, self._varied_s = varied.attempts, varied.seconds
        self._same, self._same_s = identical.attempts, identical.seconds
        self._horizon = max(self._varied_s, self._same_s)

    def clear(self) -> None:
        self._events.clear()

    def allow(self, to: str, text: str, now: float) -> bool:
        """True and recorded when `to` may receive `text` now; False means flooding."""
        events = self._events.get(to)
        if events is None:
            self._events[to] = [now, text]
            return True
        if events[0] <= now - self._horizon:
            self._prune(events, now - self._horizon)
        if not self._fits(events, text, now):
            return False
        events.append(now)
        events.append(text)
        return True

    def _fits(self, events: list, text: str, now: float) -> bool:
        if self._varied_s == self._same_s:  # usual case: one window for both rules
            return len(events) // 2 < self._varied and events[1::2].count(text) < self._same
        varied_cut, same_cut = now - self._varied_s, now - self._same_s
        varied = same = 0
        for i in range(0, len(events), 2):
            if events[i] > varied_cut:
                varied += 1
            if events[i] > same_cut and events[i + 1] == text:
                same += 1
        return varied < self._varied and same < self._same

    @staticmethod
    def _prune(events: list, cutoff: float) -> None:
        i = 0
        while i < len(events) and events[i] <= cutoff:
            i += 2
        del events[:i]

    def sweep(self, now: float) -> None:
        """Forget numbers whose events all left the window (called now and then)."""
        if now - self._last_sweep < max(self._horizon, 60.0):
            return
        self._last_sweep = now
        cutoff = now - self._horizon
        stale = [to for to, events in self._events.items() if events[-2] <= cutoff]
        for to in stale:
            del self._events[to]
