"""Shared eviction arithmetic: a window of versioncreated, clocked by the data itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# A versioncreated this far ahead of the wall clock is a feed error; it must
# not drag the window forward and evict everything else.
_MAX_FUTURE_SECONDS = 86_400.0
EVICT_EVERY = 1024  # commits between window evictions


@dataclass
class Watermark:
    """Latest plausible versioncreated seen; the window ends there, so replays of old data evict alike."""

    window_seconds: float
    value: float = float("-inf")
    commits: int = field(default=0)

    def observe(self, versioncreated: float) -> None:
        if versioncreated <= time.time() + _MAX_FUTURE_SECONDS:
            self.value = max(self.value, versioncreated)
        self.commits += 1

    @property
    def cutoff(self) -> float:
        return self.value - self.window_seconds

    def due(self) -> bool:
        return self.commits % EVICT_EVERY == 0
