"""The digitizer's one configuration object."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DigitizeConfig"]


class DigitizeConfig(BaseModel):
    """Settings of ``digitize`` (frozen; written beside every output as the resolved config).

    Parameters
    ----------
    fs_hz : output sampling rate of the recording, Hz.
    max_pixels : largest image accepted, in pixels (width x height), checked on the header before
        decoding; 60 Mpx is a 600-DPI letter page with margin.
    min_side_px : smallest width or height accepted, px (below it no grid or trace can be resolved).
    pdf_dpi : resolution at which the first page of a PDF is rasterised, dots per inch.
    paper_speed_mm_s, gain_mm_mv : the paper speed and gain assumed when the calibration pulse does
        not say otherwise (mm/s, mm/mV).
    max_rotation_deg : largest rotation searched when deskewing, degrees.
    min_lead_confidence : leads traced with a lower confidence (0-1) are returned as NaN with a warning.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fs_hz: float = Field(500.0, gt=0, le=20_000)
    max_pixels: int = Field(60_000_000, gt=0)
    min_side_px: int = Field(200, gt=0)
    pdf_dpi: float = Field(200.0, gt=0, le=600)
    paper_speed_mm_s: float = Field(25.0, gt=0)
    gain_mm_mv: float = Field(10.0, gt=0)
    max_rotation_deg: float = Field(10.0, ge=0, le=30)
    min_lead_confidence: float = Field(0.3, ge=0, le=1)
