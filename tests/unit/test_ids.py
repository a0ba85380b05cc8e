"""Deterministic IDs: the fast UUIDv5 and UUID packing are the standard library's, bit for bit."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.dedupe.sqlite import _pack_id, _unpack_id
from service.ids import _NAMESPACE, event_id, story_id, uuid5, uuid_text


@given(st.text())
def test_uuid5_is_the_standard_librarys(name: str) -> None:
    """Any name, non-ASCII and surrogate-free text included, gives uuid.uuid5's string."""
    assert uuid5(name) == str(uuid.uuid5(_NAMESPACE, name))


def test_event_and_story_ids_are_version_5_uuids_that_never_change() -> None:
    """The IDs consumers already hold stay what they were (values from before the fast path)."""
    assert story_id("Xinhua", "urn:x:1") == str(uuid.uuid5(_NAMESPACE, "story\x1fXinhua\x1furn:x:1"))
    event = uuid.UUID(event_id("Xinhua", "urn:x:1", "2", "abc"))
    assert (event.version, event.variant) == (5, uuid.RFC_4122)


@given(st.binary(min_size=14, max_size=18))
def test_uuid_text_is_the_standard_librarys(raw: bytes) -> None:
    try:
        expected = str(uuid.UUID(bytes=raw))
    except ValueError:
        with pytest.raises(ValueError):
            uuid_text(raw)
        return
    assert uuid_text(raw) == expected


_UUID_LIKE = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: u.hex),
    st.text(alphabet="0123456789abcdefABCDEF-_ +{}\t", min_size=30, max_size=40),
    st.text(),
)


@given(_UUID_LIKE)
def test_sqlite_packs_ids_as_uuid_does(value: str) -> None:
    """The fast path packs what uuid.UUID packs, to the same bytes, and keeps the rest as text."""
    try:
        expected: bytes | str = uuid.UUID(value).bytes
    except ValueError:
        expected = value
    assert _pack_id(value) == expected
    if isinstance(expected, bytes):
        assert _unpack_id(_pack_id(value)) == str(uuid.UUID(value))


def test_sqlite_packs_a_hyphenated_uuid_with_blanks_as_text() -> None:
    """bytes.fromhex skips blanks between digit pairs; uuid.UUID refuses them."""
    value = "0123 567-89ab-cdef-0123-456789abcdef"
    assert _pack_id(value) == value
