"""explainops: explain machine-learning models in production.

``explainops.run(config, overrides)`` runs a job from Python; the explainers are in
``explainops.explainers``.
"""

from typing import Any

from explainops.version import __version__

__all__ = ["__version__", "run"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import explainops.explainers`` must not load MLflow and the jobs.
    if name == "run":
        from explainops.api import run

        return run
    raise AttributeError(f"module 'explainops' has no attribute {name!r}")
