"""Output models from values our own code built with the right types, without re-validation.

pydantic's `model_construct` walks every field of the class on each call (aliases,
defaults), which costs more than the stage's own work for a mention (~3 us; ~9 us for
an EnrichedArticle). `trusted` builds the instance the way pydantic's `model_copy`
builds a copy. Callers pass every field, in declaration order; unit tests pin that down
and check that validating the dump gives back the same values of the same types.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of `cls` holding `values` as they are (every field, already valid)."""
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
