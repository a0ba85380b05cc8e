"""State: dedupe memory per story and lookup rate, through the dedupe owner's `tools/bench_dedupe.py`.

Each size and backend is measured in a fresh process, because the memory
store's bytes per story are read from the growth of the process's RSS.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any


def _measure(backend: str, size: int, lookups: int) -> dict[str, float]:
    from tools.bench_dedupe import measure  # noqa: PLC0415 - imported in the child that measures

    with tempfile.TemporaryDirectory(prefix="wire-ingest-bench-state-") as workdir:
        return asyncio.run(measure(backend, size, lookups, Path(workdir)))


def state(sizes: Sequence[int], backends: Sequence[str], lookups: int) -> list[dict[str, Any]]:
    """One row per (backend, stories): bytes per story, decides/s, band lookups/s."""
    rows = []
    context = multiprocessing.get_context("spawn")
    for size in sizes:
        for backend in backends:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                result = pool.submit(_measure, backend, size, lookups).result()
            rows.append({"backend": backend, "stories": size, **result})
    return rows
