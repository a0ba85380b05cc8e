"""The leader registry: a versioned CSV of national heads of state and government.

File format (`service/data/leaders.csv`): UTF-8 CSV with a header row, preceded by
`# key: value` metadata lines, of which `version_date` is required. Columns:

    wikidata_id  Q-number of the person; empty when not verified (such rows are used to
                 recognise the person, but never published, since the contract needs a QID)
    name         common English name
    aliases      `;`-separated other forms ("Aliyev", "President Xi", "Ilham Aliev")
    country      ISO 3166-1 alpha-2 (historical SU/DD/YU/CS allowed; XK for Kosovo)
    office       English office name ("President of Azerbaijan")
    role         head_of_state | head_of_government | both
    start, end   YYYY-MM-DD; the term is the half-open interval [start, end); empty end = in office
    source       where the facts come from

The registry version is `<version_date>+<first 12 hex of sha256 of the file>`, so any
edit changes it and every enriched event can be traced to the exact file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import sys
from collections import defaultdict
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal, TextIO

from pydantic import BaseModel, ConfigDict

from .codes import KNOWN_REGISTRY_CODES

Role = Literal["head_of_state", "head_of_government", "both"]
COLUMNS = ("wikidata_id", "name", "aliases", "country", "office", "role", "start", "end", "source")
_ROLES = frozenset(("head_of_state", "head_of_government", "both"))


class RegistryEntry(BaseModel):
    """One continuous tenure of one person in one office."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wikidata_id: str | None
    name: str
    aliases: tuple[str, ...] = ()
    country: str
    office: str
    role: Role
    start: date
    end: date | None = None
    source: str = ""

    def in_office(self, when: date) -> bool:
        return self.start <= when and (self.end is None or when < self.end)

    def distance(self, when: date) -> int:
        """Days between `when` and this term (0 when in office)."""
        if when < self.start:
            return (self.start - when).days
        if self.end is not None and when >= self.end:
            return (when - self.end).days + 1
        return 0


class Registry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    entries: tuple[RegistryEntry, ...]


def default_registry_path() -> Path:
    """The registry shipped inside the package."""
    return Path(str(resources.files("service").joinpath("data", "leaders.csv")))


def _split_metadata(text: str) -> tuple[dict[str, str], str]:
    meta: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    body_start = 0
    for index, line in enumerate(lines):
        if not line.startswith("#"):
            body_start = index
            break
        key, _, value = line[1:].partition(":")
        meta[key.strip()] = value.strip()
    else:
        body_start = len(lines)
    return meta, "".join(lines[body_start:])


def _parse_rows(body: str) -> tuple[list[dict[str, str]], list[str]]:
    reader = csv.DictReader(io.StringIO(body))
    header = tuple(reader.fieldnames or ())
    problems = [] if header == COLUMNS else [f"header is {header}, expected {COLUMNS}"]
    return list(reader), problems


def _entry(row: dict[str, str]) -> RegistryEntry:
    return RegistryEntry(
        wikidata_id=row["wikidata_id"].strip() or None,
        name=row["name"].strip(),
        aliases=tuple(a.strip() for a in row["aliases"].split(";") if a.strip()),
        country=row["country"].strip(),
        office=row["office"].strip(),
        role=row["role"].strip(),  # validated by pydantic
        start=date.fromisoformat(row["start"].strip()),
        end=date.fromisoformat(row["end"].strip()) if row["end"].strip() else None,
        source=row["source"].strip(),
    )


def registry_version(path: Path) -> str:
    raw = path.read_bytes()
    meta, _ = _split_metadata(raw.decode("utf-8"))
    return f"{meta.get('version_date', 'undated')}+{hashlib.sha256(raw).hexdigest()[:12]}"


def load_registry(path: Path | None = None) -> Registry:
    """Read and parse a registry file; raises ValueError when it is not valid."""
    path = path or default_registry_path()
    problems = validate_registry(path)
    if problems:
        raise ValueError(f"invalid leader registry {path}: {problems[:5]}")
    _, body = _split_metadata(path.read_text(encoding="utf-8"))
    rows, _ = _parse_rows(body)
    return Registry(version=registry_version(path), entries=tuple(_entry(r) for r in rows))


def _check_row(line: int, row: dict[str, str]) -> tuple[RegistryEntry | None, list[str]]:
    problems: list[str] = []
    qid = row.get("wikidata_id", "").strip()
    if qid and not (qid.startswith("Q") and qid[1:].isdigit()):
        problems.append(f"line {line}: bad wikidata_id {qid!r}")
    if row.get("country", "").strip() not in KNOWN_REGISTRY_CODES:
        problems.append(f"line {line}: unknown country code {row.get('country')!r}")
    if row.get("role", "").strip() not in _ROLES:
        problems.append(f"line {line}: unknown role {row.get('role')!r}")
    if not row.get("name", "").strip():
        problems.append(f"line {line}: empty name")
    try:
        entry = _entry(row)
    except (ValueError, KeyError, AttributeError) as exc:
        return None, [*problems, f"line {line}: {exc}"]
    if entry.end is not None and entry.end <= entry.start:
        problems.append(f"line {line}: end {entry.end} is not after start {entry.start}")
    return (entry if not problems else None), problems


def validate_registry(path: Path) -> list[str]:
    """Problems found in a registry file; an empty list means it is valid.

    Checks: header and version metadata, QID syntax, known country codes, roles,
    dates, one name per QID, no duplicate rows, and no overlapping terms of two
    people in one office of one country.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"cannot read {path}: {exc}"]
    meta, body = _split_metadata(text)
    problems: list[str] = []
    try:
        date.fromisoformat(meta.get("version_date", ""))
    except ValueError:
        problems.append("missing or invalid '# version_date: YYYY-MM-DD' metadata line")
    rows, header_problems = _parse_rows(body)
    if header_problems:
        return problems + header_problems
    first_line = len(text.splitlines()) - len(body.splitlines()) + 2
    entries: list[tuple[int, RegistryEntry]] = []
    for offset, row in enumerate(rows):
        entry, row_problems = _check_row(first_line + offset, row)
        problems.extend(row_problems)
        if entry is not None:
            entries.append((first_line + offset, entry))
    problems.extend(_cross_checks(entries))
    return problems


def _cross_checks(entries: list[tuple[int, RegistryEntry]]) -> list[str]:
    problems: list[str] = []
    names: dict[str, str] = {}
    seen: set[tuple[str | None, str, str, date]] = set()
    by_office: dict[tuple[str, str], list[tuple[int, RegistryEntry]]] = defaultdict(list)
    for line, entry in entries:
        key = (entry.wikidata_id, entry.name, entry.office, entry.start)
        if key in seen:
            problems.append(f"line {line}: duplicate row for {entry.name} ({entry.office}, {entry.start})")
        seen.add(key)
        if entry.wikidata_id:
            known = names.setdefault(entry.wikidata_id, entry.name)
            if known != entry.name:
                problems.append(f"line {line}: {entry.wikidata_id} is named {entry.name!r} and {known!r}")
        by_office[(entry.country, entry.office)].append((line, entry))
    for (country, office), terms in by_office.items():
        if _is_collective(office):
            continue
        terms.sort(key=lambda item: item[1].start)
        for (_, earlier), (line, later) in itertools.pairwise(terms):
            if earlier.end is None or later.start < earlier.end:
                problems.append(
                    f"line {line}: {later.name} starts {later.start} in {office} ({country}) "
                    f"while {earlier.name}'s term ({earlier.start}..{earlier.end or 'open'}) overlaps"
                )
    return problems


def _is_collective(office: str) -> bool:
    """Offices held by several people at once (co-princes, captains regent, presidencies)."""
    lowered = office.lower()
    return any(word in lowered for word in ("co-prince", "captain regent", "member of", "co-president"))


def write_registry(
    entries: list[RegistryEntry], path: Path | None = None, version_date: date | None = None
) -> None:
    """Write entries in the registry format; to stdout when `path` is None."""
    stamp = (version_date or date.today()).isoformat()
    if path is None:
        _write(entries, sys.stdout, stamp)
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        _write(entries, handle, stamp)


def _write(entries: list[RegistryEntry], handle: TextIO, stamp: str) -> None:
    handle.write(f"# version_date: {stamp}\n")
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.wikidata_id or "",
                e.name,
                ";".join(e.aliases),
                e.country,
                e.office,
                e.role,
                e.start.isoformat(),
                e.end.isoformat() if e.end else "",
                e.source,
            ]
        )
