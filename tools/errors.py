"""The project's error taxonomy, drawn once here and imported everywhere.

::

    ECGError                      every error this project raises on purpose
    ├── InputError (ValueError)   the caller's input is invalid: file, shape, lead, rate, option
    ├── DigitizationError         an image that is readable but cannot be digitized (no ECG, blank)
    ├── MeasurementError          a recording that supports no measurement at all
    └── models.errors.ModelError  the MLLM layer: bad checkpoint, server down or answering garbage

Messages name the parameter, the value and what was allowed, on one line, so the CLI can print
them as ``error: <message>`` and exit with code 2.
"""

from __future__ import annotations

__all__ = ["ECGError", "InputError", "DigitizationError", "MeasurementError"]


class ECGError(Exception):
    """Base class of every error raised on purpose by this project."""


class InputError(ECGError, ValueError):
    """The caller's input is invalid (file, array shape, lead name, sampling rate, option)."""


class DigitizationError(ECGError):
    """An image was read but no ECG could be traced from it (blank page, no grid, no trace)."""


class MeasurementError(ECGError):
    """A recording supports no measurement at all (e.g. no usable lead)."""
