"""wire-ingest: raw news wire items in, canonical and enriched article events out."""

__version__ = "0.1.0"
