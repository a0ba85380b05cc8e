"""Subcommands of `wire-ingest` for operators (replay, dlq, reenrich, offsets)."""

from __future__ import annotations

import argparse
from typing import Any


def add_ops_commands(commands: Any) -> None:
    """Register the operator subcommands on the top-level `wire-ingest` parser."""
    _ = (commands, argparse)
