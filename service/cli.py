"""The `wire-ingest` command line: one entry point for the service and its tools."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError

from .errors import ConfigError, MissingExtraError
from .observability import configure_logging
from .settings import Settings, Stage, load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    settings = load_settings(args.config)
    if getattr(args, "stage", None):
        overrides["pipeline"] = settings.pipeline.model_copy(update={"stage": Stage(args.stage)})
    return settings.model_copy(update=overrides) if overrides else settings


def _cmd_run(args: argparse.Namespace) -> int:
    from .app import run_service  # noqa: PLC0415 - heavy imports only for the commands that need them
    from .shell import RunLimits  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    limits = RunLimits(
        max_records=args.max_records, idle_seconds=args.idle_seconds, stop_at_end=args.stop_at_end
    )
    asyncio.run(run_service(settings, limits=limits))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from .harness import tansu_binary  # noqa: PLC0415

    try:
        tansu_binary()  # before the service's imports: a missing extra is told at once
    except MissingExtraError as error:
        print(f"wire-ingest demo: {error}", file=sys.stderr)
        return EXIT_FAILED
    from .demo import run_demo  # noqa: PLC0415

    configure_logging("WARNING", "console")
    asyncio.run(run_demo())
    return EXIT_OK


def _cmd_process(args: argparse.Namespace) -> int:
    from .process import process_files  # noqa: PLC0415

    settings = _settings(args)
    configure_logging("ERROR" if not args.verbose else "INFO", "json")
    missing = [path for path in args.paths if path != "-" and not Path(path).is_file()]
    if missing:
        print(f"wire-ingest process: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(process_files(args.paths, settings, sys.stdout.buffer))
    return EXIT_OK


def _cmd_topics_create(args: argparse.Namespace) -> int:
    from .topics import create_topics  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.observability.log_level, "console")
    created = asyncio.run(
        create_topics(settings, partitions=args.partitions, replication_factor=args.replication_factor)
    )
    print(f"created: {', '.join(created) if created else 'nothing (all topics exist)'}")
    return EXIT_OK


def _cmd_registry_validate(args: argparse.Namespace) -> int:
    from .enrich import default_registry_path, validate_registry  # noqa: PLC0415

    path = Path(args.path) if args.path else default_registry_path()
    problems = validate_registry(path)
    for problem in problems:
        print(problem)
    print(f"{path.name}: {'valid' if not problems else f'{len(problems)} problem(s)'}")
    return EXIT_OK if not problems else EXIT_FAILED


def _cmd_registry_import(args: argparse.Namespace) -> int:
    from .enrich import import_wikidata, write_registry  # noqa: PLC0415

    entries = import_wikidata(Path(args.file))
    write_registry(entries, Path(args.output) if args.output else None)
    print(f"imported {len(entries)} registry entries", file=sys.stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wire-ingest",
        description="Normalize, deduplicate and enrich raw news wire items from Kafka.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (environment variables override it)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the service (until SIGTERM/SIGINT or a limit)")
    run.add_argument("--stage", choices=[s.value for s in Stage], help="all (default), ingest or enrich")
    run.add_argument("--max-records", type=int, default=None, help="stop after this many input records")
    run.add_argument("--idle-seconds", type=float, default=None, help="stop after this long without input")
    run.add_argument("--stop-at-end", action="store_true", help="stop at the end offsets seen at assignment")
    run.set_defaults(func=_cmd_run)

    demo = commands.add_parser(
        "demo", help="local broker + sample feed + service, prints the enriched events"
    )
    demo.set_defaults(func=_cmd_demo)

    process = commands.add_parser("process", help="run the pipeline offline over files, JSON lines on stdout")
    process.add_argument("paths", nargs="+", help="raw wire item files, one item each; '-' reads stdin")
    process.add_argument("--stage", choices=[s.value for s in Stage], help="all (default) or ingest")
    process.add_argument("-v", "--verbose", action="store_true", help="log to stderr at INFO")
    process.set_defaults(func=_cmd_process)

    topics = commands.add_parser("topics", help="topic administration")
    topic_commands = topics.add_subparsers(dest="topics_command", required=True)
    create = topic_commands.add_parser("create", help="create the service's topics")
    create.add_argument("--partitions", type=int, default=None)
    create.add_argument("--replication-factor", type=int, default=None)
    create.set_defaults(func=_cmd_topics_create)

    registry = commands.add_parser("registry", help="the leader registry")
    registry_commands = registry.add_subparsers(dest="registry_command", required=True)
    validate = registry_commands.add_parser("validate", help="check the registry file")
    validate.add_argument("path", nargs="?", default=None, help="registry file (default: the shipped one)")
    validate.set_defaults(func=_cmd_registry_validate)
    importer = registry_commands.add_parser(
        "import-wikidata", help="convert a Wikidata SPARQL JSON result into registry entries"
    )
    importer.add_argument("file")
    importer.add_argument("-o", "--output", default=None, help="write here (default: stdout)")
    importer.set_defaults(func=_cmd_registry_import)

    from .ops.cli import add_ops_commands  # noqa: PLC0415 - operator tools live with their code

    add_ops_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, ValidationError) as error:
        print(f"wire-ingest: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
