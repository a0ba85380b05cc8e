"""Operator tooling: replay, dead-letter redrive, re-enrichment, offset resets."""
