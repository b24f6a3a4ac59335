"""Measurement tool: global 12-lead intervals, axes, rhythm and rule-based statements with evidence.

``measure(recording, config) -> Measurement``; see docs/measurement.md for the method and its
accuracy, and docs/measurement.schema.json for the ``--json`` contract.
"""

from tools.measure.config import MeasureConfig
from tools.measure.pipeline import FS_RANGE_HZ, measure
from tools.measure.result import Measurement

__all__ = ["MeasureConfig", "Measurement", "measure", "FS_RANGE_HZ"]
