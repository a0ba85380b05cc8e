"""Subcommands of `wire-ingest` for operators (replay, dlq, reenrich, offsets).

Every command reads the same settings as the service (`--config`, the
environment), prints a summary at the end (`--json` for machines), shows a
progress bar on a terminal, and accepts `--dry-run` where it would write.
Exit codes: 0 done, 1 refused or failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from ..settings import Settings, load_settings
from .ranges import RangeError, RangeSpec, parse_utc

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _print_result(args: argparse.Namespace, lines: list[str], data: dict[str, Any]) -> None:
    if args.json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


def _spec(args: argparse.Namespace) -> RangeSpec:
    return RangeSpec(
        partitions=tuple(args.partition) if args.partition else None,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
        from_time=parse_utc(args.from_time) if args.from_time else None,
        to_time=parse_utc(args.to_time) if args.to_time else None,
    )


def _guarded(
    body: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """Run an async command; range and refusal errors become a message and exit code, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        from ..observability import configure_logging  # noqa: PLC0415

        # Per-record warnings (each dead letter) would bury the progress bar; the summary counts them.
        configure_logging("ERROR", "console")
        try:
            return asyncio.run(body(args))
        except RangeError as error:
            print(f"wire-ingest {args.command}: {error}", file=sys.stderr)
            return EXIT_FAILED

    return run


def _add_range(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group(f"range of {what} (default: all of it, up to its end now)")
    group.add_argument(
        "--partition", type=int, action="append", help="only this partition (repeatable; default: all)"
    )
    group.add_argument(
        "--from-offset", type=int, default=None, help="first offset (in every chosen partition)"
    )
    group.add_argument("--to-offset", type=int, default=None, help="last offset, inclusive")
    group.add_argument(
        "--from-time",
        default=None,
        help="first record timestamp, ISO 8601 with a zone, e.g. 2024-09-15T10:00Z",
    )
    group.add_argument("--to-time", default=None, help="records before this timestamp (exclusive)")


def _add_output(parser: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if dry_run:
        parser.add_argument("--dry-run", action="store_true", help="count what would happen, write nothing")


# ---------------------------------------------------------------- replay / reenrich


async def _replay(args: argparse.Namespace) -> int:
    from .replay import InputKind, Mode, ReplayOptions, run_replay  # noqa: PLC0415

    mode = Mode(args.command)
    options = ReplayOptions(
        spec=_spec(args),
        source=InputKind(getattr(args, "input", "canonical")),
        mode=mode,
        sandbox_prefix=args.sandbox_prefix,
        force=args.force,
        dry_run=args.dry_run,
        fresh_state=getattr(args, "fresh_state", False),
        progress=_progress(args),
    )
    summary = await run_replay(_settings(args), options)
    _print_result(args, summary.lines(), summary.as_dict())
    return EXIT_OK


# ---------------------------------------------------------------- dlq


def _selection(args: argparse.Namespace) -> Any:
    from .dlq import LetterFilter  # noqa: PLC0415

    return LetterFilter(
        reasons=frozenset(args.reason or ()),
        sources=frozenset(args.source or ()),
        stages=frozenset(args.stage or ()),
    )


async def _dlq_list(args: argparse.Namespace) -> int:
    from .dlq import count_letters, read_letters  # noqa: PLC0415

    letters, unreadable = await read_letters(_settings(args), _spec(args), progress=_progress(args))
    counts = count_letters(letters, _selection(args), unreadable)
    _print_result(args, counts.lines(), counts.as_dict())
    return EXIT_OK


async def _dlq_show(args: argparse.Namespace) -> int:
    from .dlq import describe, find_letter  # noqa: PLC0415

    item = await find_letter(_settings(args), args.offset, args.partition)
    if args.raw:
        sys.stdout.buffer.write(item.original)
        sys.stdout.flush()
        return EXIT_OK
    if args.json:
        data = item.letter.model_dump(mode="json")
        data["dlq_partition"], data["dlq_offset"] = item.partition, item.offset
        _print_result(args, [], data)
        return EXIT_OK
    text = item.original.decode("utf-8", "backslashreplace")
    _print_result(args, [*describe(item), "  original bytes:", text], {})
    return EXIT_OK


async def _dlq_redrive(args: argparse.Namespace) -> int:
    from .dlq import redrive  # noqa: PLC0415

    summary = await redrive(
        _settings(args), _spec(args), _selection(args), dry_run=args.dry_run, progress=_progress(args)
    )
    _print_result(args, summary.lines(), summary.as_dict())
    return EXIT_OK


def _add_letter_filter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", action="append", help="only this reason code (repeatable)")
    parser.add_argument("--source", action="append", help="only letters from this source (repeatable)")
    parser.add_argument(
        "--stage", action="append", choices=["parse", "normalize", "dedupe", "enrich", "route"]
    )


# ---------------------------------------------------------------- offsets


async def _offsets_reset(args: argparse.Namespace) -> int:
    from .offsets import GroupActiveError, ResetRequest, ResetTo, reset_offsets  # noqa: PLC0415

    if args.to_timestamp is not None:
        to, moment = ResetTo.TIMESTAMP, parse_utc(args.to_timestamp)
    else:
        to, moment = (
            (ResetTo.EARLIEST if args.to_earliest else ResetTo.LATEST if args.to_latest else ResetTo.SHIFT),
            None,
        )
    request = ResetRequest(
        group=args.group, to=to, topics=tuple(args.topic or ()), timestamp=moment, shift=args.shift or 0
    )
    try:
        plan = await reset_offsets(_settings(args), request, dry_run=args.dry_run)
    except GroupActiveError as error:
        print(f"wire-ingest offsets reset: refused: {error}", file=sys.stderr)
        return EXIT_FAILED
    _print_result(args, plan.lines(), plan.as_dict())
    return EXIT_OK


# ---------------------------------------------------------------- registration


def add_ops_commands(commands: Any) -> None:
    """Register the operator subcommands on the top-level `wire-ingest` parser."""
    replay = commands.add_parser(
        "replay",
        help="re-run the pipeline over a range of a topic (idempotent unless --force)",
        description="Re-run the pipeline over a range of the raw topic (or the canonical topic: "
        "enrichment only). Reads without a consumer group and stops at the end offsets seen at start. "
        "Messages published before (known from the dedupe state, the DLQ and the enriched topic) are "
        "withheld unless --force; what a replay publishes is marked lineage.replay=true.",
    )
    replay.add_argument("--input", choices=["raw", "canonical"], default="raw", help="topic to replay")
    replay.add_argument("--sandbox-prefix", default=None, help="publish to PREFIX+topic (e.g. 'replay.')")
    replay.add_argument(
        "--force", action="store_true", help="republish what was published before, as replays"
    )
    replay.add_argument(
        "--fresh-state",
        action="store_true",
        help="raw input: start from an empty in-memory dedupe state (needs --sandbox-prefix)",
    )
    _add_range(replay, "the input topic")
    _add_output(replay)
    replay.set_defaults(func=_guarded(_replay))

    reenrich = commands.add_parser(
        "reenrich",
        help="re-run enrichment over a range of articles.canonical with the current registry",
        description="Enrich canonical events again with the current registry and publish them to the "
        "enriched topic (carrying registry_version). Events already enriched with this registry version "
        "are skipped unless --force.",
    )
    reenrich.add_argument("--sandbox-prefix", default=None, help="publish to PREFIX+topic")
    reenrich.add_argument("--force", action="store_true", help="publish even if enriched with this version")
    _add_range(reenrich, "the canonical topic")
    _add_output(reenrich)
    reenrich.set_defaults(func=_guarded(_replay))

    dlq = commands.add_parser("dlq", help="dead letters: list, show, redrive")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list", help="count dead letters by reason and source")
    _add_letter_filter(listing)
    _add_range(listing, "the dead-letter topic")
    _add_output(listing, dry_run=False)
    listing.set_defaults(func=_guarded(_dlq_list))

    show = dlq_commands.add_parser("show", help="one dead letter with its original bytes")
    show.add_argument("offset", type=int, help="offset on the dead-letter topic")
    show.add_argument("--partition", type=int, default=None, help="needed when several partitions have it")
    show.add_argument("--raw", action="store_true", help="write only the original bytes to stdout")
    show.add_argument("--json", action="store_true", help="the letter as JSON")
    show.set_defaults(func=_guarded(_dlq_show))

    again = dlq_commands.add_parser(
        "redrive",
        help="send selected dead letters back to the input topic",
        description="Produce the original bytes of the selected letters back to the raw topic with "
        "their original key and headers and a wire-ingest-redriven header. Redriving twice does not "
        "duplicate output: the dedupe stage recognises the second copy as a redelivery.",
    )
    _add_letter_filter(again)
    _add_range(again, "the dead-letter topic")
    _add_output(again)
    again.set_defaults(func=_guarded(_dlq_redrive))

    offsets = commands.add_parser("offsets", help="consumer group offsets")
    offset_commands = offsets.add_subparsers(dest="offsets_command", required=True)
    reset = offset_commands.add_parser(
        "reset", help="move a stopped group's offsets (refused while it has members)"
    )
    reset.add_argument("--group", required=True)
    reset.add_argument(
        "--topic",
        action="append",
        help="default: the input topic of the stage using the group (raw; canonical for *.enrich)",
    )
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-timestamp", default=None, help="first offset at or after this time (ISO 8601)")
    target.add_argument("--to-earliest", action="store_true")
    target.add_argument("--to-latest", action="store_true")
    target.add_argument("--shift", type=int, default=None, help="move by N (negative: back)")
    _add_output(reset)
    reset.set_defaults(func=_guarded(_offsets_reset))
