"""Evaluate the English pre-check of `service.language.detect_language` against the model path.

The pre-check (`language._plainly_english`) answers "en" before py3langid's model runs. It must
answer only where the model path (the same `detect_language`, pre-check off: letter floor,
model, wire languages, margin) says "en" too. Every text is the one the service gives
`detect_language`: raw items go through `parse` and `normalize`, and the sample normalize
builds (headline + start of the body) is caught at the call; an item that states its language
is read with the language cleared, as if it did not.

Texts:
- reuters: every Reuters-21578 article (../shared/eval/reuters21578) as its own story, rendered
  in every bench wire format (tools/bench/wire.py); distinct samples per article kept. Halves:
  crc32 of the headline even = fit, odd = held-out (a headline filed many times, with near
  identical text, stays in one half). Rules and thresholds are chosen on fit only.
- bench: the records `make bench` sends (tools/bench/records.py), only the items that state no
  language, read as the service reads them: how many still reach the model.
- non-English: the multilingual stories (tests/fixtures/multilingual), every item of
  ../shared/eval/superdesk/files and ../shared/eval/formats, and service/data/samples, each
  with its language cleared, plus 400-character windows over each of those bodies. A text is
  non-English when its item states a language other than English, or its story is, or (no
  language stated) the model path names another language; one filed as non-English that the
  model path reads as English (English copy under it/fi, embed code) is counted apart. Each
  non-English text is also read with its accents dropped ("folded"): foreign text that passes
  the pre-check's ASCII gate. The pre-check must answer none of them.

Printed per group: texts, the model path's answers, how many the pre-check answers, and how
many of those the model path does not answer "en" (must be 0). Exit status 1 when any is.

    .venv/bin/python tools/eval_english_precheck.py [--shared DIR] [--bench-records N] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service import language
from service import normalize as normalize_module
from service.errors import RecordError
from service.models import ParsedItem, RecordMeta
from service.parse import parse
from tools.bench.records import bench_records
from tools.bench.wire import FORMATS, WireItem, render
from tools.corpus import Story, default_shared_dir, reuters_articles

ROOT = Path(__file__).resolve().parents[1]
MULTILINGUAL = ROOT / "tests" / "fixtures" / "multilingual" / "stories.jsonl"
SAMPLES = ROOT / "service" / "data" / "samples"
RECORD = RecordMeta(topic="eval", partition=0, offset=0, timestamp=datetime(2024, 1, 1, tzinfo=UTC))
WHEN = datetime(2024, 3, 4, tzinfo=UTC)
WINDOW, STEP = 400, 200  # the service samples ~400 characters of body
FIT, HELD_OUT = "fit", "held-out"


@dataclass(frozen=True)
class Text:
    group: str
    key: str
    text: str
    non_english: bool = False


@contextmanager
def _catching() -> Iterator[list[str]]:
    """The texts normalize hands to detect_language while the block runs."""
    caught: list[str] = []
    real = normalize_module.detect_language

    def catch(text: str, *args: object, **kwargs: object) -> str:
        caught.append(text)
        return real(text)

    normalize_module.detect_language = catch  # type: ignore[assignment]
    try:
        yield caught
    finally:
        normalize_module.detect_language = real


def _sample(item: ParsedItem, *, clear: bool = True) -> str | None:
    """The text normalize gives detect_language for `item` (its language cleared), or None."""
    if clear:
        item = item.model_copy(update={"language": None})
    with _catching() as caught:
        try:
            normalize_module.normalize(item, RECORD, raw_sha256="0" * 64)
        except RecordError:
            return None
    return caught[0] if caught else None


def _items(raw: bytes) -> list[ParsedItem]:
    try:
        return parse(raw)
    except RecordError:
        return []


def model_path(text: str) -> str:
    """detect_language's answer with the pre-check off: what the model and its rules say."""
    check = language._plainly_english
    language._plainly_english = lambda _text: False
    try:
        return language.detect_language(text)
    finally:
        language._plainly_english = check


def pre_check(text: str) -> bool:
    """True when detect_language answers without the model (the letter floor comes first)."""
    return language._has_letters(text, language.MIN_LETTERS) and language._plainly_english(text)


# ---------------------------------------------------------------- Reuters


def reuters_half(headline: str) -> str:
    return FIT if zlib.crc32(headline.encode()) % 2 == 0 else HELD_OUT


def reuters_texts(path: Path) -> Iterator[tuple[str, Text]]:
    """(half, text) for every distinct sample of every article, rendered in every bench format."""
    for row, title, paragraphs in reuters_articles(path):
        story = Story(int(row["newid"]), title.capitalize(), None, WHEN, tuple(paragraphs))
        item = WireItem(
            story, f"urn:eval:{story.number}", 1, "Reuters", story.headline, story.paragraphs, WHEN, WHEN
        )
        seen: set[str] = set()
        for wire_format in FORMATS:
            for parsed in _items(render(wire_format, item, 3000)):
                text = _sample(parsed)
                if text is not None and text not in seen:
                    seen.add(text)
                    yield reuters_half(story.headline), Text("reuters", str(story.number), text)


# ---------------------------------------------------------------- bench


def bench_texts(count: int, shared: Path) -> list[Text]:
    """The bench records' items that state no language, as the service reads them."""
    records, _ = bench_records(count, shared=shared)
    out = []
    for number, record in enumerate(records):
        for item in _items(record.value):
            if item.language:
                continue
            text = _sample(item, clear=False)
            if text is not None:
                out.append(Text("bench", f"{number}:{record.wire_format}", text))
    return out


# ---------------------------------------------------------------- other languages


def _windows(group: str, key: str, headline: str, body: str, non_english: bool) -> Iterator[Text]:
    for start in range(STEP, max(STEP, len(body) - STEP) + 1, STEP):
        window = body[start : start + WINDOW].strip()
        if window:
            yield Text(f"{group}-windows", f"{key}@{start}", window, non_english)
            yield Text(f"{group}-windows", f"{key}@{start}+h", f"{headline}\n{window}", non_english)


def _document_texts(group: str, key: str, items: list[ParsedItem]) -> Iterator[Text]:
    for index, item in enumerate(items):
        text = _sample(item)
        if text is None:
            continue
        stated = (item.language or "").strip().lower()
        if stated:
            non_english = not stated.startswith("en")
        else:
            non_english = model_path(text) not in ("en", language.UNDETERMINED)
        name = f"{key}#{index}"
        yield Text(group, name, text, non_english)
        if non_english:
            body = "\n\n".join(" ".join(p.split()) for p in item.body_paragraphs if p.strip())
            yield from _windows(group, name, " ".join((item.headline or "").split()), body, True)


def folded(text: str) -> str:
    """`text` with its accents dropped and other non-ASCII letters left out: foreign text that
    passes the pre-check's ASCII gate, so that only its word counts stand in the way."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode("ascii")


_FOLD = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "đ": "d", "ł": "l", "Ł": "L"})


def other_texts(shared: Path) -> Iterator[Text]:
    for line in MULTILINGUAL.read_text(encoding="utf-8").splitlines():
        story = json.loads(line)
        raw = orjson.dumps(
            {
                "uri": f"urn:eval:{story['id']}",
                "type": "text",
                "headline": story["headline"],
                "body_text": story["body"],
            }
        )
        for item in _items(raw):
            text = _sample(item)
            if text is not None:
                non_english = story["lang"] != "en"
                yield Text("multilingual", story["id"], text, non_english)
                yield from _windows(
                    "multilingual", story["id"], story["headline"], story["body"], non_english
                )
    folders = [
        ("samples", SAMPLES),
        ("superdesk", shared / "eval" / "superdesk" / "files"),
        ("formats", shared / "eval" / "formats"),
    ]
    for group, folder in folders:
        if not folder.is_dir():
            print(f"skipped: {folder} not found")
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            yield from _document_texts(group, str(path.relative_to(folder)), _items(path.read_bytes()))


# ---------------------------------------------------------------- report


@dataclass
class Tally:
    texts: int = 0
    answered: int = 0  # by the pre-check
    wrong: int = 0  # answered, and the model path does not say "en"
    model: Counter[str] | None = None

    def add(self, text: str, answer: str, verbose: Callable[[str], None] | None) -> None:
        self.model = self.model or Counter()
        self.model["en" if answer == "en" else ("und" if answer == language.UNDETERMINED else "other")] += 1
        self.texts += 1
        if pre_check(text):
            self.answered += 1
            if answer != "en":
                self.wrong += 1
                if verbose:
                    verbose(f"    WRONG (model path {answer}): {text[:160]!r}")

    def line(self, name: str) -> str:
        model = self.model or Counter()
        share = f"{100 * self.answered / self.texts:.1f}%" if self.texts else "-"
        return (
            f"{name:<44} {self.texts:>6} {model['en']:>6} {model['und']:>5} {model['other']:>5}"
            f" {self.answered:>8} {share:>6} {self.texts - self.answered:>7} {self.wrong:>5}"
        )


HEADER = (
    f"{'group':<44} {'texts':>6} {'m:en':>6} {'m:und':>5} {'m:oth':>5}"
    f" {'answered':>8} {'share':>6} {'to model':>7} {'wrong':>5}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=default_shared_dir(), help="the shared/ folder")
    parser.add_argument("--bench-records", type=int, default=4000, help="bench records to read (0: none)")
    parser.add_argument("--verbose", action="store_true", help="print every text answered wrongly")
    args = parser.parse_args(argv)
    verbose = print if args.verbose else None
    tallies: dict[str, Tally] = {}

    def tally(name: str) -> Tally:
        return tallies.setdefault(name, Tally())

    reuters = args.shared / "eval" / "reuters21578" / "articles.jsonl"
    if reuters.is_file():
        for half, text in reuters_texts(reuters):
            tally(f"reuters {half}").add(text.text, model_path(text.text), verbose)
        if args.bench_records > 0:
            for text in bench_texts(args.bench_records, args.shared):
                tally("bench (no language stated)").add(text.text, model_path(text.text), verbose)
    else:
        print(f"skipped: {reuters} not found (Reuters halves and bench mix)")
    for text in other_texts(args.shared):
        answer = model_path(text.text)
        if not text.non_english:
            tally(f"{text.group} other").add(text.text, answer, verbose)
            continue
        # A text filed as non-English that the model reads as English (ANSA's and STT's English
        # copy under it/fi, embed code) is no foreign text: counted apart, held to the same rule.
        if answer == "en":
            tally(f"{text.group} filed non-English, read en").add(text.text, answer, verbose)
            continue
        tally(f"{text.group} non-English").add(text.text, answer, verbose)
        ascii_form = folded(text.text)
        if ascii_form != text.text and language._has_letters(ascii_form, language.MIN_LETTERS):
            answer = model_path(ascii_form)
            if answer != "en":
                tally(f"{text.group} non-English, folded").add(ascii_form, answer, verbose)
    print("m:en/m:und/m:oth: the model path's answers; answered: by the pre-check; wrong: answered where")
    print('the model path does not say "en" (must be 0); to model: texts the pre-check leaves to the model')
    print(HEADER)
    print("-" * len(HEADER))
    for name in sorted(tallies):
        print(tallies[name].line(name))
    non_english = [t for n, t in tallies.items() if "non-English" in n and "read en" not in n]
    total = Tally(
        sum(t.texts for t in non_english),
        sum(t.answered for t in non_english),
        sum(t.wrong for t in non_english),
    )
    print("-" * len(HEADER))
    print(f"non-English texts: {total.texts}, answered by the pre-check: {total.answered} (must be 0)")
    wrong = sum(t.wrong for t in tallies.values())
    print(f"answered where the model path does not say en, all groups: {wrong} (must be 0)")
    return 1 if wrong or total.answered else 0


if __name__ == "__main__":
    sys.exit(main())
