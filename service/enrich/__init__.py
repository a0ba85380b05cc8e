"""Enrich stage: ISO 3166 countries and time-aware national leaders (Wikidata QIDs)."""

from .enricher import ENRICHER_VERSION, Analysis, Enricher, load_enricher
from .languages import write_labels
from .registry import (
    Registry,
    RegistryEntry,
    default_registry_path,
    load_registry,
    registry_version,
    validate_registry,
    write_registry,
)
from .wikidata_import import import_labels, import_wikidata

__all__ = [
    "ENRICHER_VERSION",
    "Analysis",
    "Enricher",
    "Registry",
    "RegistryEntry",
    "default_registry_path",
    "import_labels",
    "import_wikidata",
    "load_enricher",
    "load_registry",
    "registry_version",
    "validate_registry",
    "write_labels",
    "write_registry",
]
