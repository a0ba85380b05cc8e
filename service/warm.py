"""The shipped enricher, loaded once in the worker pool's fork server.

Only the fork server imports this module (it is in `service.workers._PRELOAD`):
every zygote forked from it inherits the loaded registry, gazetteer and
automaton instead of loading them again, which is most of a pool's start-up
time (a test session opens dozens of pools). A deployment with its own
enrich settings (e.g. a registry file) loads those in the zygote instead.
"""

from __future__ import annotations

from .enrich import Enricher, load_enricher
from .prepare import Preparer, warm_up
from .settings import EnrichSettings, Settings

DEFAULT_SETTINGS = EnrichSettings()
DEFAULT_ENRICHER: Enricher = load_enricher(DEFAULT_SETTINGS)
# The process-wide lazy state (language model, imports) is built here once too.
warm_up(Preparer(Settings(), DEFAULT_ENRICHER))
