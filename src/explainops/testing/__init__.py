"""Helpers for trying and testing explainops.

``explainops.testing.model_server.ModelServer`` serves a model on 127.0.0.1 like a SageMaker
endpoint (``python -m explainops.testing.model_server --model MODEL_URI`` from the shell).
"""
