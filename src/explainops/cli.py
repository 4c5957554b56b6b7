"""The ``explainops`` command: run, validate and describe jobs.

Exit codes: 0 success, 1 the job failed, 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from explainops.config import load_raw_config, validate_model
from explainops.core.redaction import RedactingFilter, masked_config, redact
from explainops.errors import ConfigError, ExplainOpsError
from explainops.services import progress
from explainops.version import __version__

logger = logging.getLogger("explainops")

EXIT_OK, EXIT_FAILED, EXIT_INVALID_CONFIG = 0, 1, 2


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(name: str) -> str:
    """A logging level's name, in any case; a usage error (exit 2) naming the choices otherwise."""
    if name.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{name!r}: expected one of {', '.join(LOG_LEVELS)}")
    return name.upper()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explainops", description="Explain models in production.")
    parser.add_argument("--version", action="version", version=f"explainops {__version__}")
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default=os.environ.get("EXPLAINOPS_LOG_LEVEL", "INFO"),
        help=f"logging level: one of {', '.join(LOG_LEVELS)} (default INFO, or "
        "$EXPLAINOPS_LOG_LEVEL)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "validate the configuration, then run the job"),
        (
            "validate",
            "validate and print the resolved configuration, then check the model, the first "
            "batch of samples and the output paths without running",
        ),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "configs", nargs="+", metavar="CONFIG", help="YAML or JSON files, merged in order"
        )
        _add_progress_option(command)
        command.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a dotted key, e.g. job.alias_or_version=3",
        )
    commands.add_parser("schema", help="print the JSON Schema of all job configurations")
    _add_clarify_parser(commands)
    _add_report_parser(commands)
    return parser


def _add_report_parser(commands: Any) -> None:
    command = commands.add_parser(
        "report",
        help="write the report (HTML, PDF, notebook) of existing outputs, explaining nothing",
        description=(
            "Draw a report from a finished run's outputs: a sample-explanations table (with "
            "the model-explanations table and a partial-dependence file), Clarify's "
            "analysis.json (tabular, text or images: the files it needs in explanations_shap/ "
            "beside it are read too), or a drift baseline file with its history."
        ),
    )
    command.add_argument("outputs", nargs="+", metavar="OUTPUT", help="output files of one run")
    command.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="REPORT.html",
        help="the HTML page; the PDF and notebook are written beside it",
    )
    command.add_argument("--title", help="the report's title")
    command.add_argument(
        "--formats",
        default="html,pdf,ipynb",
        help="comma-separated, of html, pdf, ipynb (default: all three)",
    )
    command.add_argument(
        "--samples", metavar="PATH", help="the explained input samples, to colour the plots"
    )
    command.add_argument("--id-column", help="the samples' id column")
    command.add_argument(
        "--max-points", type=int, default=1000, help="samples drawn in scatter plots (default 1000)"
    )
    command.add_argument(
        "--waterfalls",
        type=int,
        default=1,
        help="per label, samples of largest and smallest prediction with a waterfall (default 1)",
    )
    command.add_argument(
        "--sample-id",
        dest="sample_ids",
        action="append",
        default=[],
        help="a sample that gets a waterfall too (repeat for more)",
    )


def _report(arguments: argparse.Namespace) -> int:
    """``explainops report``: draw a report from output files."""
    from explainops.reports.output import ReportOutput
    from explainops.reports.rebuild import report_from_outputs

    output = validate_model(
        ReportOutput,
        {
            "path": arguments.output,
            "title": arguments.title,
            "formats": [kind.strip() for kind in arguments.formats.split(",") if kind.strip()],
            "max_points": arguments.max_points,
            "waterfalls": arguments.waterfalls,
            "sample_ids": arguments.sample_ids,
        },
    )
    written = report_from_outputs(
        arguments.outputs, output, samples=arguments.samples, id_column=arguments.id_column
    )
    for name, path in written.items():
        print(f"{name}: {path}")
    return EXIT_OK


def _add_progress_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (shown only on a terminal; the log reports progress instead)",
    )


def _add_clarify_parser(commands: Any) -> None:
    clarify = commands.add_parser(
        "clarify",
        help="run a SageMaker Clarify explainability analysis config unchanged",
        description="Explain a model with a Clarify analysis config; writes DIR/analysis.json "
        "(and DIR/explanations_shap/out.csv with save_local_shap_values).",
    )
    _add_progress_option(clarify)
    clarify.add_argument("--config", required=True, help="Clarify analysis config JSON")
    clarify.add_argument("--dataset", required=True, help="data set path or fsspec URI")
    clarify.add_argument("--output", required=True, metavar="DIR", help="output folder")
    model = clarify.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model", metavar="MODEL_URI", help="MLflow model URI, explained in process"
    )
    model.add_argument("--endpoint", metavar="URL", help="model served over HTTP")
    clarify.add_argument(
        "--dataset-type",
        choices=["text/csv", "application/jsonlines", "application/json", "application/x-parquet"],
        help="data set format (default: the config's dataset_type, else the file extension)",
    )
    clarify.add_argument("--features-attribute", metavar="JMESPATH", help="features in records")
    clarify.add_argument(
        "--probability-attribute",
        metavar="INDEX_OR_JMESPATH",
        help="the model output to explain: column index or JMESPath into JSON Lines responses",
    )
    clarify.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI for models:/ and runs:/ URIs (default: MLFLOW_TRACKING_URI, "
        "else ./mlruns/mlflow.db; a lookup never creates a registry)",
    )
    clarify.add_argument(
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="NAME=ENV_VAR",
        help="endpoint request header read from an environment variable, e.g. "
        "Authorization=ENDPOINT_TOKEN",
    )
    clarify.add_argument("--max-concurrency", type=int, help="endpoint requests in flight")
    clarify.add_argument("--timeout", type=float, help="endpoint response timeout in seconds")
    clarify.add_argument("--max-retries", type=int, help="endpoint retries on 5xx/429/timeouts")
    clarify.add_argument(
        "--baseline-constraints",
        metavar="ANALYSIS_JSON",
        help="run as Model Monitor's explainability monitor: compare with this baseline "
        "analysis.json (Clarify's or explainops') by NDCG per label and write "
        "DIR/constraint_violations.json",
    )
    clarify.add_argument(
        "--threshold",
        type=float,
        help="NDCG below it is a violation (default 0.9; with --baseline-constraints)",
    )


def _clarify_job_config(arguments: argparse.Namespace) -> dict[str, Any]:
    headers = {}
    for item in arguments.headers:
        name, separator, variable = item.partition("=")
        if not separator or not name or not variable:
            raise ConfigError(f"--header {item!r}: expected NAME=ENV_VAR")
        headers[name] = variable
    attribute = arguments.probability_attribute
    job: dict[str, Any] = {
        "KIND": "ClarifyJob",
        "analysis_config": arguments.config,
        "dataset": arguments.dataset,
        "output_dir": arguments.output,
        "model_uri": arguments.model,
        "endpoint_url": arguments.endpoint,
        "dataset_type": arguments.dataset_type,
        "features_attribute": arguments.features_attribute,
        "probability_attribute": int(attribute) if attribute and attribute.isdigit() else attribute,
        "headers_from_env": headers,
        "tracking_uri": arguments.tracking_uri,
        "baseline_constraints": arguments.baseline_constraints,
        "threshold": arguments.threshold,
    }
    requests = {
        "max_concurrency": arguments.max_concurrency,
        "timeout_s": arguments.timeout,
        "max_retries": arguments.max_retries,
    }
    job["requests"] = {key: value for key, value in requests.items() if value is not None}
    return {"job": {key: value for key, value in job.items() if value is not None}}


def _configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    logger.setLevel(level)
    for noisy in ("mlflow", "alembic", "urllib3", "numba", "distributed", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(error: BaseException | str, code: int) -> int:
    """Print the one line that says why the command failed (secrets masked); return ``code``."""
    print(f"error: {redact(str(error))}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    arguments = _parser().parse_args(argv)
    _configure_logging(arguments.log_level)
    # --no-progress holds for this command only (main may be called again in one process).
    token = progress.bar_enabled.set(not getattr(arguments, "no_progress", False))
    try:
        return _command(arguments)
    finally:
        progress.bar_enabled.reset(token)


def _command(arguments: argparse.Namespace) -> int:
    from explainops.jobs import JobConfig

    if arguments.command == "schema":
        print(json.dumps(JobConfig.model_json_schema(), indent=2))
        return EXIT_OK
    if arguments.command == "report":
        return _guarded(lambda: _report(arguments))
    try:
        raw = (
            _clarify_job_config(arguments)
            if arguments.command == "clarify"
            else load_raw_config(arguments.configs, arguments.overrides)
        )
        config = validate_model(JobConfig, raw)
    except ConfigError as error:
        return _fail(error, EXIT_INVALID_CONFIG)
    return _guarded(lambda: _validate(config) if arguments.command == "validate" else _run(config))


def _run(config: Any) -> int:
    with config.job as job:
        job.run()
    return EXIT_OK


def _guarded(command: Callable[[], int]) -> int:
    """Run ``command``; its errors as one line and an exit code, as for jobs."""
    try:
        return command()
    except ConfigError as error:
        return _fail(error, EXIT_INVALID_CONFIG)
    except ExplainOpsError as error:
        return _fail(error, EXIT_FAILED)
    except Exception as error:  # the last line of defence: one line for users, a trace in the log
        logger.debug("unexpected failure", exc_info=True)
        return _fail(f"unexpected {type(error).__name__}: {error}", EXIT_FAILED)


def _validate(config: Any) -> int:
    """Print the resolved configuration (secrets masked), then check what can be checked."""
    print(json.dumps(masked_config(config.model_dump(mode="json")), indent=2))
    for line in config.job.check():
        print(f"checked: {redact(line)}", file=sys.stderr)
    print(f"valid: {config.job.KIND} can run", file=sys.stderr)
    return EXIT_OK


def entry_point() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
