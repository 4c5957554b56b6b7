"""SageMaker Clarify compatibility: its analysis config, read unchanged."""

from explainops.clarify.analysis_config import AnalysisConfig, load_analysis_config

__all__ = ["AnalysisConfig", "load_analysis_config"]
