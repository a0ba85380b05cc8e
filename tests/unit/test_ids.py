"""Deterministic IDs: the fast UUIDv5 is the standard library's, bit for bit."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from service.ids import _NAMESPACE, event_id, story_id, uuid5


@given(st.text())
def test_uuid5_is_the_standard_librarys(name: str) -> None:
    """Any name, non-ASCII and surrogate-free text included, gives uuid.uuid5's string."""
    assert uuid5(name) == str(uuid.uuid5(_NAMESPACE, name))


def test_event_and_story_ids_are_version_5_uuids_that_never_change() -> None:
    """The IDs consumers already hold stay what they were (values from before the fast path)."""
    assert story_id("Xinhua", "urn:x:1") == str(uuid.uuid5(_NAMESPACE, "story\x1fXinhua\x1furn:x:1"))
    event = uuid.UUID(event_id("Xinhua", "urn:x:1", "2", "abc"))
    assert (event.version, event.variant) == (5, uuid.RFC_4122)
