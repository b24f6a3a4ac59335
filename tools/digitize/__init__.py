"""Paper ECG image -> calibrated 12-lead recording (classical, layout-agnostic pipeline).

Stages, one module each: ``page_image`` (loading and size checks), ``ink`` (ink/grid darkness),
``grid`` (deskew and sub-pixel pitch), ``rows`` (trace rows), ``tracing`` (dynamic-programming
tracer), ``calibration`` (pulse and scales), ``layout`` (lead identity), ``assembly`` (time base),
``pipeline`` (``digitize``). See docs/digitization.md.
"""

from tools.digitize.config import DigitizeConfig
from tools.digitize.pipeline import digitize
from tools.digitize.result import Calibration, Digitization, Layout, LeadBox

__all__ = ["DigitizeConfig", "digitize", "Digitization", "Calibration", "Layout", "LeadBox"]
