"""The ``explainops`` command: run, validate and describe jobs.

Exit codes: 0 success, 1 the job failed, 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from explainops import __version__
from explainops.config import load_raw_config, validate_model
from explainops.errors import ConfigError, ExplainOpsError

logger = logging.getLogger("explainops")

EXIT_OK, EXIT_FAILED, EXIT_INVALID_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explainops", description="Explain models in production.")
    parser.add_argument("--version", action="version", version=f"explainops {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("EXPLAINOPS_LOG_LEVEL", "INFO"),
        help="logging level (default INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "validate the configuration, then run the job"),
        ("validate", "validate and print the resolved configuration"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "configs", nargs="+", metavar="CONFIG", help="YAML or JSON files, merged in order"
        )
        command.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a dotted key, e.g. job.alias_or_version=3",
        )
    commands.add_parser("schema", help="print the JSON Schema of all job configurations")
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logger.setLevel(level.upper())
    for noisy in ("mlflow", "alembic", "urllib3", "numba", "distributed", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    arguments = _parser().parse_args(argv)
    _configure_logging(arguments.log_level)
    from explainops.jobs import JobConfig

    if arguments.command == "schema":
        print(json.dumps(JobConfig.model_json_schema(), indent=2))
        return EXIT_OK
    try:
        config = validate_model(JobConfig, load_raw_config(arguments.configs, arguments.overrides))
    except ConfigError as error:
        logger.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    if arguments.command == "validate":
        print(config.model_dump_json(indent=2))
        return EXIT_OK
    try:
        with config.job as job:
            job.run()
    except ExplainOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # the last line of defence: one line for users, a trace in the log
        logger.debug("unexpected failure", exc_info=True)
        print(f"error: unexpected {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def entry_point() -> None:
    """Console script."""
    sys.exit(main())
