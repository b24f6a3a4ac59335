"""Errors of the model layer (checkpoints, converters, serving clients).

::

    tools.errors.ECGError
    └── ModelError                    anything the MLLM layer raises on purpose
        ├── CheckpointError           not a LLaVA/LlavaNext checkpoint, missing shards, bad shapes
        ├── ModelUnavailableError     server down, refused, timed out after the allowed retries
        └── ModelResponseError        server answered, but with an HTTP error, garbage or empty text

The agent catches ModelError and falls back to tools only; everything else is a bug.
"""

from __future__ import annotations

from tools.errors import ECGError

__all__ = ["ModelError", "CheckpointError", "ModelUnavailableError", "ModelResponseError"]


class ModelError(ECGError):
    """Base class of the model layer's errors."""


class CheckpointError(ModelError):
    """A checkpoint directory is not what it claims: wrong architecture, missing files, bad shapes."""


class ModelUnavailableError(ModelError):
    """The model cannot be reached: connection refused, timeout, retries exhausted."""


class ModelResponseError(ModelError):
    """The model answered, but not usefully: HTTP error status, malformed JSON, empty text."""
