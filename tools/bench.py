"""`make bench`: throughput, latency and memory of wire-ingest beside the raw Kafka limit.

Usage: python tools/bench.py [--quick] [--only stages,kafka,eos,scale,state] [--shared DIR] [--out DIR]

The measuring code lives in tools/bench/ (this file only puts the repository
on the import path, so the spawned measurement processes find it too).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.bench.cli import main  # needs the path above

if __name__ == "__main__":
    sys.exit(main())
