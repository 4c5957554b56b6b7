"""SageMaker Clarify's explainability analysis config, read unchanged.

Every field Clarify documents is accepted. The ones explainops uses are typed and checked; the
ones that only make sense in AWS (instance types, endpoint names) or belong to other Clarify
analyses (bias metrics) are accepted and reported in the log as ignored. Any other field is an
error, so a typo never silently changes a result.
"""

from __future__ import annotations

import logging
import posixpath
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pydantic

from explainops.core.component import validation_message
from explainops.core.images import DEFAULT_COMPACTNESS, DEFAULT_NUM_SEGMENTS
from explainops.core.text import Granularity, Segmenter, language_code
from explainops.errors import ConfigError
from explainops.explainers.explanation import AggMethod
from explainops.io.datasets import read_json

logger = logging.getLogger(__name__)

DatasetType = Literal[
    "text/csv", "application/jsonlines", "application/json", "application/x-parquet"
]
# Data sets of images (a folder, a prefix, an image, or a manifest of images): image_config only.
IMAGE_DATASET = "application/x-image"
ConfigDatasetType = DatasetType | Literal["application/x-image"]
ImageContentType = Literal["image/jpeg", "image/png", "application/x-npy"]
ModelContentType = (
    Literal["text/csv", "application/jsonlines", "application/json", "application/x-parquet"]
    | ImageContentType
)
ModelAcceptType = Literal["text/csv", "application/jsonlines", "application/json"]


class _ClarifySection(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    # Fields accepted for compatibility but not used: reported by ignored_fields().
    _aws_only: ClassVar[frozenset[str]] = frozenset()
    _other_analyses: ClassVar[frozenset[str]] = frozenset()

    def ignored_fields(self, prefix: str) -> list[str]:
        """Log lines for the fields that were set but are not used by explainops."""
        lines = []
        for name in sorted(self.model_fields_set):
            if name in self._aws_only:
                lines.append(f"{prefix}{name}: AWS-only setting, ignored")
            elif name in self._other_analyses:
                lines.append(f"{prefix}{name}: not an explainability setting, ignored")
        return lines


DEFAULT_MAX_TOP_TOKENS = 50


class TextConfig(_ClarifySection):
    """``methods.shap.text_config``."""

    granularity: Granularity
    language: str
    max_top_tokens: Annotated[int, pydantic.Field(ge=1)] = DEFAULT_MAX_TOP_TOKENS

    @pydantic.field_validator("granularity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @pydantic.field_validator("language")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            language_code(value)
        except ConfigError as error:
            raise ValueError(str(error).removeprefix("text_config.language: ")) from error
        return value

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter of this granularity and language."""
        return Segmenter(self.granularity, self.language)


class ImageConfig(_ClarifySection):
    """``methods.shap.image_config``: SLIC superpixels as the features of each image.

    ``model_type: OBJECT_DETECTION`` explains the score of each of the ``max_objects`` objects a
    detector finds, matched in masked images by class and ``iou_threshold``, with ``context``
    the weight of the image outside each object's box (:mod:`explainops.clarify.detection`).
    ``debug`` (Clarify's undocumented image selection) is accepted and ignored.
    """

    _aws_only: ClassVar[frozenset[str]] = frozenset({"debug"})

    model_type: Literal["IMAGE_CLASSIFICATION", "OBJECT_DETECTION"]
    num_segments: Annotated[int, pydantic.Field(ge=1)] = DEFAULT_NUM_SEGMENTS
    segment_compactness: Annotated[float, pydantic.Field(gt=0)] = DEFAULT_COMPACTNESS
    feature_extraction_method: Literal["segmentation"] = "segmentation"
    max_objects: Annotated[int, pydantic.Field(ge=1)] = 3
    iou_threshold: Annotated[float, pydantic.Field(ge=0, le=1)] = 0.5
    context: Annotated[float, pydantic.Field(ge=0, le=1)] = 1.0
    debug: Any = None


class ShapMethod(_ClarifySection):
    """``methods.shap``: Kernel SHAP settings."""

    # Rows, a path or URI, or (for application/json data sets) a document like the data set's.
    baseline: list[Any] | dict[str, Any] | str | None = None
    num_samples: Annotated[int, pydantic.Field(ge=1)] | None = None
    agg_method: AggMethod = "mean_abs"
    use_logit: bool = False
    save_local_shap_values: bool = False
    seed: int | None = None
    num_clusters: Annotated[int, pydantic.Field(ge=1)] | None = None
    text_config: TextConfig | None = None
    image_config: ImageConfig | None = None

    @pydantic.model_validator(mode="after")
    def _check(self) -> ShapMethod:
        if self.text_config is not None and self.image_config is not None:
            raise ValueError("give text_config or image_config, not both")
        if isinstance(self.baseline, list) and not self.baseline:
            raise ValueError("baseline: give at least one row")
        return self


class PdpMethod(_ClarifySection):
    """``methods.pdp``: partial dependence plots' data.

    ``features`` names (or indexes) the features; absent, the ``top_k_features`` with the largest
    global SHAP values are taken (which needs ``methods.shap``).
    """

    features: Annotated[list[int | str], pydantic.Field(min_length=1)] | None = None
    grid_resolution: Annotated[int, pydantic.Field(ge=1)] = 15
    top_k_features: Annotated[int, pydantic.Field(ge=1)] = 10


class ReportMethod(_ClarifySection):
    """``methods.report``: write ``<name>.html``, ``<name>.pdf`` and ``<name>.ipynb``."""

    name: Annotated[str, pydantic.Field(min_length=1, pattern=r"^[^/\\]+$")] = "report"
    title: str | None = None


class Methods(_ClarifySection):
    """``methods``: ``shap``, ``pdp`` and ``report`` are made; bias analyses are ignored."""

    _other_analyses: ClassVar[frozenset[str]] = frozenset(
        {"pre_training_bias", "post_training_bias", "asymmetric_shapley_value"}
    )

    shap: ShapMethod | None = None
    pdp: PdpMethod | None = None
    pre_training_bias: Any = None
    post_training_bias: Any = None
    report: ReportMethod | None = None
    asymmetric_shapley_value: Any = None


class Predictor(_ClarifySection):
    """``predictor``: how to talk to the model.

    ``label`` (a JMESPath into JSON responses) is explained when ``probability`` is unset, as for
    a regressor answering ``{"score": 1.2}``; otherwise (or as a CSV column index) it only serves
    bias analyses and is ignored.
    """

    _aws_only: ClassVar[frozenset[str]] = frozenset(
        {
            "model_name",
            "endpoint_name",
            "endpoint_name_prefix",
            "instance_type",
            "initial_instance_count",
            "accelerator_type",
            "target_model",
            "custom_attributes",
        }
    )
    _other_analyses: ClassVar[frozenset[str]] = frozenset({"label"})

    model_name: str | None = None
    endpoint_name: str | None = None
    endpoint_name_prefix: str | None = None
    instance_type: str | None = None
    initial_instance_count: int | None = None
    accelerator_type: str | None = None
    target_model: str | None = None
    custom_attributes: str | None = None
    content_type: ModelContentType | None = None
    accept_type: ModelAcceptType | None = None
    content_template: str | None = None
    record_template: str | None = None
    label: int | str | None = None
    probability: int | str | None = None
    label_headers: list[str] | None = None

    @property
    def explained_label(self) -> str | None:
        """``label`` when it is what explainability explains (see the class docstring)."""
        return self.label if isinstance(self.label, str) and self.probability is None else None

    def ignored_fields(self, prefix: str) -> list[str]:
        """As for every section, but ``label`` is used when it is ``explained_label``."""
        lines = super().ignored_fields(prefix)
        if self.explained_label is not None:
            lines.remove(f"{prefix}label: not an explainability setting, ignored")
        return lines


class AnalysisConfig(_ClarifySection):
    """A Clarify analysis config (the explainability part; see the module docstring)."""

    _aws_only: ClassVar[frozenset[str]] = frozenset({"dataset_uri"})
    _other_analyses: ClassVar[frozenset[str]] = frozenset(
        {
            "label_values_or_threshold",
            "probability_threshold",
            "facet",
            "group_variable",
            "predicted_label_dataset_uri",
            "predicted_label_headers",
            "facet_dataset_uri",
            "facet_headers",
        }
    )

    version: str | None = None
    dataset_type: ConfigDatasetType | None = None
    dataset_uri: str | None = None
    headers: list[str] | None = None
    label: int | str | None = None
    features: str | None = None
    excluded_columns: list[int | str] | None = None
    joinsource_name_or_index: int | str | None = None
    methods: Methods
    predictor: Predictor | None = None
    label_values_or_threshold: Any = None
    probability_threshold: Any = None
    facet: Any = None
    group_variable: Any = None
    predicted_label_dataset_uri: Any = None
    predicted_label_headers: Any = None
    predicted_label: int | str | None = None
    facet_dataset_uri: Any = None
    facet_headers: Any = None

    @property
    def shap(self) -> ShapMethod:
        """The SHAP section (check ``methods.shap`` is not None first: PDP-only configs lack it)."""
        assert self.methods.shap is not None
        return self.methods.shap

    @pydantic.model_validator(mode="after")
    def _check_methods(self) -> AnalysisConfig:
        if self.methods.shap is None and self.methods.pdp is None:
            raise ValueError(
                "methods: give shap or pdp; explainops computes SHAP values and partial dependence"
            )
        shap = self.methods.shap
        is_image = self.dataset_type == IMAGE_DATASET
        if is_image != (shap is not None and shap.image_config is not None):
            raise ValueError(
                "dataset_type: application/x-image data sets go with methods.shap.image_config"
                if is_image
                else "methods.shap.image_config: set dataset_type to application/x-image"
            )
        pdp = self.methods.pdp
        if pdp is not None and pdp.features is None and self.methods.shap is None:
            raise ValueError(
                "methods.pdp.features: missing; without methods.shap the features cannot be "
                "taken from the SHAP ranking (top_k_features)"
            )
        return self

    @property
    def predictor_or_default(self) -> Predictor:
        """The predictor section, or an empty one."""
        return self.predictor or Predictor()

    def log_ignored_fields(self) -> None:
        """Report every accepted-but-unused field, one log line each."""
        lines = self.ignored_fields("")
        lines += self.methods.ignored_fields("methods.")
        if self.predictor is not None:
            lines += self.predictor.ignored_fields("predictor.")
        for line in lines:
            logger.info("analysis config %s", line)


def load_analysis_config(path: str | Path) -> AnalysisConfig:
    """Read and validate a Clarify analysis config JSON file.

    Raises:
        ConfigError: unreadable file, invalid JSON, unknown field or invalid value (each offending
            field named by its path), or no ``methods.shap`` section.

    """
    raw = read_json(str(path), "analysis config", ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    try:
        config = AnalysisConfig.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ConfigError(f"{path}: {validation_message(error)}") from error
    config.log_ignored_fields()
    return with_baseline_beside(config, str(path))


def with_baseline_beside(config: AnalysisConfig, path: str) -> AnalysisConfig:
    """``config`` with a relative ``methods.shap.baseline`` file taken in the folder of ``path``.

    As every relative path in a configuration file (docs/configuration.md) and an image
    manifest's entries: relative to the file that names it, not to the working directory.
    """
    shap = config.methods.shap
    if shap is None or not isinstance(shap.baseline, str):
        return config
    if "://" in shap.baseline or Path(shap.baseline).is_absolute():
        return config
    baseline = _beside(path, shap.baseline)
    logger.info("analysis config methods.shap.baseline: %s (beside the config)", baseline)
    methods = config.methods.model_copy(
        update={"shap": shap.model_copy(update={"baseline": baseline})}
    )
    return config.model_copy(update={"methods": methods})


def _beside(path: str, relative: str) -> str:
    """``relative`` taken in the folder of ``path``, a local path or a URI."""
    if "://" not in path:
        return str((Path(path).parent / relative).resolve())
    scheme, _, key = path.partition("://")
    return f"{scheme}://{posixpath.normpath(posixpath.join(posixpath.dirname(key), relative))}"
