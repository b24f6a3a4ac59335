"""Amplitude scale checks: limb leads rescaled one by one, records normalised lead by lead."""

import numpy as np
import pytest

from agent.crosscheck import Tolerances, check_claims
from models.claims import parse_claims
from tools.measure import MeasureConfig, measure
from tools.measure.lead_scaling import lead_scaling
from tools.ludb import LUDB_LEADS, read_ludb_counts_mv
from tools.measure.statements import AMPLITUDE_CODES
from tools.record_io import read_record
from tools.recording import Recording
from tools.simulate import sample_config, simulate

from tests.conftest import shared_path

CONFIG = MeasureConfig()


def _rescaled(recording: Recording, gains: dict[str, float]) -> Recording:
    signal = recording.signal_mv.copy()
    for lead, gain in gains.items():
        signal[:, recording.leads.index(lead)] *= gain
    return recording.with_signal(signal)


def _normalised(recording: Recording) -> Recording:
    signal = recording.signal_mv - np.nanmin(recording.signal_mv, axis=0)
    return recording.with_signal(signal / np.ptp(recording.signal_mv, axis=0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_consistent_records_pass(seed):
    recording = simulate(sample_config(seed, fs_hz=500.0, noisy=True)).recording
    scaling = lead_scaling(recording.signal_mv, recording.leads, recording.fs_hz)
    assert scaling.amplitudes_physical and scaling.flags() == [] and scaling.reason() is None


def test_per_lead_gains_are_recovered_and_the_axis_is_kept():
    sim = simulate(sample_config(7, fs_hz=500.0, labels=("lvh",)))
    gains = {"I": 2.0, "aVL": 0.6, "aVF": 1.5}
    scaled = _rescaled(sim.recording, gains)
    scaling = lead_scaling(scaled.signal_mv, scaled.leads, scaled.fs_hz)
    assert scaling.limb_gains is not None
    for lead in ("I", "II", "III", "aVR", "aVL", "aVF"):
        assert scaling.limb_gains[lead] == pytest.approx(gains.get(lead, 1.0), rel=0.01), lead
    plain, result = measure(sim.recording, CONFIG), measure(scaled, CONFIG)
    assert result.global_.axis_deg.qrs == pytest.approx(plain.global_.axis_deg.qrs, abs=1.0)
    assert "limb_lead_gain_mismatch" in result.quality.flags
    assert "lvh" in {s.code for s in plain.statements}
    assert not {s.code for s in result.statements} & set(AMPLITUDE_CODES)
    assert set(AMPLITUDE_CODES) <= {k.removeprefix("statements.") for k in result.not_measurable}


def test_small_gain_errors_and_missing_leads_are_tolerated():
    recording = simulate(sample_config(8, fs_hz=500.0)).recording
    slightly = _rescaled(recording, {"I": 1.1, "aVF": 0.92})
    assert lead_scaling(slightly.signal_mv, slightly.leads, slightly.fs_hz).amplitudes_physical
    three = _rescaled(recording, {"I": 3.0}).select(["I", "V1", "V2"])
    assert lead_scaling(three.signal_mv, three.leads, three.fs_hz).limb_gains is None


def test_a_lead_by_lead_normalised_record_is_flagged_and_model_voltage_claims_stay_unverifiable():
    normalised = _normalised(simulate(sample_config(9, fs_hz=500.0, labels=("lvh",))).recording)
    result = measure(normalised, CONFIG)
    assert "normalized_per_lead" in result.quality.flags
    measurements = result.to_json_dict()
    checks = check_claims(parse_claims("Sinus rhythm. Left ventricular hypertrophy. No ST elevation."),
                          measurements, Tolerances())
    by_key = {c.key: c for c in checks}
    assert by_key["lvh"].verdict == "unverifiable" and "normalised" in by_key["lvh"].reason
    assert by_key["ST elevation"].verdict == "unverifiable"
    assert by_key["sinus_rhythm"].verdict == "agreed"


def test_ludb_as_stored_here_is_normalised_lead_by_lead():
    recording = read_record(shared_path("ludb", "data", "1.hea"))
    np.testing.assert_allclose(np.ptp(recording.signal_mv, axis=0), 1.0, atol=2e-3)
    result = measure(recording, CONFIG)
    assert {"normalized_per_lead", "limb_lead_gain_mismatch"} <= set(result.quality.flags)
    assert result.quality.limb_lead_gains["aVF"] == pytest.approx(1.73, abs=0.05)


def test_ludbs_stored_counts_at_one_gain_give_physical_amplitudes():
    stem = shared_path("ludb", "data", "1.hea").with_suffix("")
    recording = read_record(stem.with_suffix(".hea"))
    restored = recording.with_signal(read_ludb_counts_mv(stem))
    scaling = lead_scaling(restored.signal_mv, restored.leads, restored.fs_hz)
    assert scaling.amplitudes_physical
    # The same waves: each lead is the stored one times its own factor.
    ratio = restored.signal_mv / np.where(recording.signal_mv == 0, np.nan, recording.signal_mv)
    assert np.nanstd(ratio, axis=0).max() < 1e-6 and len(set(np.round(np.nanmedian(ratio, axis=0), 3))) > 6


def test_counts_are_read_at_one_gain_and_refused_when_they_break_einthoven(tmp_path):
    import wfdb

    signal = simulate(sample_config(3, fs_hz=500.0)).recording.signal_mv
    counts = np.round(signal * 1000.0)
    counts[:, 2] = counts[:, 1] - counts[:, 0]  # III = II - I to the count, as a recorder stores it
    gains = [float(g) for g in np.ptp(counts, axis=0)]  # each lead stored as if it spanned 1 mV
    wfdb.wrsamp("same", fs=500, units=["mV"] * 12, sig_name=list(LUDB_LEADS), d_signal=counts.astype(np.int32),
                fmt=["16"] * 12, adc_gain=gains, baseline=[0] * 12, write_dir=str(tmp_path))
    np.testing.assert_allclose(read_ludb_counts_mv(tmp_path / "same"), counts / 1000.0)
    counts[:, 2] = np.round(counts[:, 2] * 1.5)  # lead III rescaled on its own
    wfdb.wrsamp("broken", fs=500, units=["mV"] * 12, sig_name=list(LUDB_LEADS), d_signal=counts.astype(np.int32),
                fmt=["16"] * 12, adc_gain=gains, baseline=[0] * 12, write_dir=str(tmp_path))
    with pytest.raises(ValueError, match="III != II - I"):
        read_ludb_counts_mv(tmp_path / "broken")


@pytest.mark.parametrize("seed", [38, 82, 126])
def test_a_lead_by_lead_normalised_record_keeps_its_p_duration(seed):
    # Normalising blows a lead of small QRS up to the others' size, and its P wave with it: ranked
    # against that one P wave, every other lead's was dropped and P read ~30 ms short.
    sim = simulate(sample_config(seed, fs_hz=500.0))
    plain, normalised = measure(sim.recording, CONFIG), measure(_normalised(sim.recording), CONFIG)
    assert "normalized_per_lead" in normalised.quality.flags
    truth = sim.truth.p_duration_ms
    assert plain.global_.p_duration_ms == pytest.approx(truth, abs=5.0)
    assert normalised.global_.p_duration_ms == pytest.approx(truth, abs=5.0)
