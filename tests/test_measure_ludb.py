"""Measurement tool on LUDB (real 12-lead records, cardiologists' per-lead points), held-out half.

Reference: per beat, the global fiducials over the 12 annotated leads with one outlying lead
dropped (second earliest onset / second latest offset), median over the beats; see
docs/measurement.md for why. Only odd-numbered records are used here: the defaults were tuned
on the even ones.
"""

import numpy as np
import pytest

from tools.cli.bench_measure import IEC_LIMITS_MS, INTERVALS
from tools.ludb import ludb_reference, read_ludb_annotations

# IEC 60601-2-25 limits (mean, SD) are the target; the delineator does not meet every SD limit
# yet (see docs/measurement.md), so these tests hold it to 1.5x the mean and 2x the SD limits
# and fail on any regression beyond that.
MEAN_FACTOR, SD_FACTOR = 1.5, 2.0


@pytest.fixture(scope="module")
def odd_records(ludb_measured):
    """(id, labels, reference, Measurement) of the odd-numbered (held-out) LUDB records."""
    return [(rec_id, labels, ludb_reference(read_ludb_annotations(stem), result.fs_hz, rank=2), result)
            for rec_id, labels, stem, result in ludb_measured if rec_id % 2]


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", INTERVALS)
def test_interval_errors_against_cardiologists(odd_records, name):
    errors = np.array([getattr(m.global_, name) - ref[name] for _, _, ref, m in odd_records
                       if np.isfinite(ref[name]) and getattr(m.global_, name) is not None])
    defined = sum(np.isfinite(ref[name]) for _, _, ref, _ in odd_records)
    mean_limit, sd_limit = IEC_LIMITS_MS[name]
    assert errors.size >= 0.95 * defined, f"{name}: measured on {errors.size} of {defined} records"
    assert abs(errors.mean()) <= MEAN_FACTOR * mean_limit, f"{name}: mean error {errors.mean():+.1f} ms"
    assert errors.std(ddof=1) <= SD_FACTOR * sd_limit, f"{name}: SD {errors.std(ddof=1):.1f} ms"


@pytest.mark.slow
@pytest.mark.shared_data
def test_atrial_fibrillation_detection(odd_records):
    truth = np.array([lab["af"] for _, lab, _, _ in odd_records])
    called = np.array([m.rhythm.label == "atrial_fibrillation" for _, _, _, m in odd_records])
    assert truth.sum() >= 3
    assert (truth & called).sum() / truth.sum() >= 0.6          # sensitivity
    assert (~truth & ~called).sum() / (~truth).sum() >= 0.97    # specificity


@pytest.mark.slow
@pytest.mark.shared_data
def test_every_record_measured_without_crash(odd_records):
    assert len(odd_records) >= 90
    measured = [m for _, lab, _, m in odd_records if not lab["pacing"]]
    assert sum(m.global_.qrs_ms is not None for m in measured) >= 0.97 * len(measured)
    assert sum(m.rhythm.label is not None for m in measured) >= 0.9 * len(measured)
