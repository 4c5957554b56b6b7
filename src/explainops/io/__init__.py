"""Everything that touches the outside world: datasets, the model registry, schemas."""
