"""Which errors can heal, and how long to wait before trying again.

Permanent errors (bad input, too large, invalid) are dead-lettered once and
never retried; see `service.errors.ReasonCode`. Errors that can heal (a broker
or store out of reach, a timeout, a read-only replica after a failover) are
retried after a pause that grows exponentially, with full jitter so that the
instances of a deployment do not come back in lock-step.
"""

from __future__ import annotations

import random

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

# Too large for the broker's max.message.bytes: sending the same bytes again fails again.
_PERMANENT_PRODUCE_ERRORS: tuple[type[KafkaError], ...] = (MessageSizeTooLargeError, RecordTooLargeError)


def is_permanent_produce_error(error: BaseException) -> bool:
    """A produce error that repeats for the same message whatever we wait."""
    return isinstance(error, _PERMANENT_PRODUCE_ERRORS)


class Backoff:
    """Exponential backoff with full jitter: wait a random time up to min(cap, initial * 2**n)."""

    def __init__(
        self, initial_seconds: float, max_seconds: float, *, rng: random.Random | None = None
    ) -> None:
        self._initial = initial_seconds
        self._max = max_seconds
        self._attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self._max, self._initial * 2**self._attempts)
        self._attempts = min(self._attempts + 1, 32)
        # Never below a tenth of the initial pause: a zero draw would retry in a tight loop.
        return max(self._initial / 10, self._rng.uniform(0, ceiling))

    def reset(self) -> None:
        self._attempts = 0
