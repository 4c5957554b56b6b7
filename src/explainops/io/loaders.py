"""Every way of loading a model, selected in YAML by ``loader.KIND``."""

from explainops.core.model import LoadedModel
from explainops.io.endpoints import EndpointLoader
from explainops.io.registries import BuiltinLoader, CustomLoader, Loader

LoaderKind = CustomLoader | BuiltinLoader | EndpointLoader

__all__ = ["BuiltinLoader", "CustomLoader", "EndpointLoader", "LoadedModel", "Loader", "LoaderKind"]
