"""Pacing spikes and stimuli stored as steps (tools.measure.preprocess), paced rhythms
(tools.measure.pipeline), the ``paced_rhythm`` claim pattern (models.claims)."""

from __future__ import annotations

import numpy as np
import pytest

from models.claims import parse_claims
from tests.conftest import shared_path
from tests.test_measure import _as_3x4_page
from tools.ludb import ludb_labels, ludb_reference, read_ludb_annotations
from tools.measure import MeasureConfig, measure
from tools.measure.beats import detect_beats
from tools.measure.preprocess import filter_leads, locked_steps, paced_beats, pacing_steps, remove_pacing_spikes
from tools.record_io import read_record
from tools.recording import LEADS, Recording
from tools.simulate import sample_config, simulate

CONFIG = MeasureConfig()
FS = 500.0
# One spike vector seen in the 12 leads (mV): limb leads obey Einthoven (III = II - I, ...).
_SPIKE_MV = dict(zip(LEADS, (3.0, 4.0, 1.0, -3.5, 1.0, 2.5, -2.0, -1.0, 1.0, 3.0, 4.0, 4.0)))
# LUDB records with "Cardiac pacing" whose stored signal shows spikes the detector must find; 45 and
# 111 store their stimuli as a decaying step and a 26-ms box instead (see docs, "Paced ECGs").
LUDB_SPIKES = (34, 74, 90, 93, 95)
LUDB_STORED_STEPS = (45, 111)
LUDB_VENTRICULAR_PACED = (34, 74, 90, 93, 45, 111)
# Non-paced LUDB records whose recorder left one-sample steps where it joined segments.
LUDB_SEGMENT_JOINS = (43, 99, 109)
BUNDLE_CODES = {"rbbb", "lbbb", "ivcd", "lafb"}
QT_CODES = {"long_qt", "short_qt"}


def _add_spikes(recording: Recording, times_s: list[float], scale: float = 1.0) -> Recording:
    """A 2-ms pacing spike (one sample at 500 Hz) at each time, with the same vector in every lead."""
    signal = np.array(recording.signal_mv)
    amplitude = np.array([_SPIKE_MV[lead] for lead in recording.leads]) * scale
    for t in times_s:
        signal[round(t * recording.fs_hz)] += amplitude
    return recording.with_signal(signal)


def _add_stored_stimuli(recording: Recording, times_s: list[float], shape: str, scale: float = 0.05) -> Recording:
    """A stimulus as some recorders store it, the same vector in every lead: a one-sample step
    decaying with a 4-ms time constant (``"decay"``, LUDB 45) or a 26-ms box (``"box"``, LUDB 111)."""
    fs = recording.fs_hz
    signal = np.array(recording.signal_mv)
    amplitude = np.array([_SPIKE_MV[lead] for lead in recording.leads]) * scale
    n = int(0.026 * fs)
    profile = np.exp(-np.arange(n) / fs / 0.004) if shape == "decay" else np.ones(n)
    for t in times_s:
        start = round(t * fs)
        signal[start:start + n] += profile[:, None] * amplitude
    return recording.with_signal(signal)


def _pacing_found(recording: Recording) -> bool:
    """What ``measure`` flags as pacing: spikes, or steps locked to the dominant QRS complexes."""
    signal, fs = recording.signal_mv, recording.fs_hz
    if remove_pacing_spikes(signal, fs, recording.leads)[1].size:
        return True
    steps = pacing_steps(signal, fs, recording.leads)
    if steps.size < 3:  # locked_steps needs 3 (test_locked_steps_exact): skip the beat detection
        return False
    beats = detect_beats(filter_leads(signal, fs, CONFIG.detection_lowpass_hz, CONFIG), fs, CONFIG)
    return locked_steps(steps, beats.r_samples[beats.dominant], fs).size > 0


def _ventricular_spikes(sim, lead_s: float = 0.01) -> list[float]:
    """Spike times lead_s before every QRS onset of the simulator's truth."""
    return [b.qrs_on_s - lead_s for b in sim.truth.beats
            if b.qrs_on_s is not None and 0.1 < b.qrs_on_s < sim.recording.duration_s - 0.1]


# ---- exact answers on simulated records ---------------------------------------------------------
def test_no_qtc_statement_on_a_ventricular_paced_rhythm():
    sim = simulate(sample_config(2, fs_hz=FS, labels=["long_qt"]))
    assert "long_qt" in {s.code for s in measure(sim.recording, CONFIG).statements}
    result = measure(_add_spikes(sim.recording, _ventricular_spikes(sim)), CONFIG)
    assert result.rhythm.label == "paced_rhythm"
    assert not {s.code for s in result.statements} & QT_CODES
    assert result.global_.qtc_ms.bazett is not None  # the number stays; the rule does not apply


def test_ventricular_spikes_give_paced_rhythm_and_no_bundle_branch_block():
    sim = simulate(sample_config(1, fs_hz=FS, labels=["lbbb"]))
    native = measure(sim.recording, CONFIG)
    assert "lbbb" in {s.code for s in native.statements} and "pacing" not in native.quality.flags
    times = _ventricular_spikes(sim)
    result = measure(_add_spikes(sim.recording, times), CONFIG)
    assert "pacing" in result.quality.flags
    found = np.array(result.quality.pacing_spike_times_s)
    assert len(found) == len(times) and np.max(np.abs(found - np.array(times))) <= 2.5 / FS
    assert result.rhythm.label == "paced_rhythm" and result.rhythm.av_block is None
    codes = {s.code for s in result.statements}
    assert "paced_rhythm" in codes and not codes & BUNDLE_CODES
    for code in BUNDLE_CODES | QT_CODES:
        assert "ventricular-paced" in result.not_measurable[f"statements.{code}"]
    evidence = result.rhythm.evidence
    assert evidence.times_s == pytest.approx(found.tolist())
    assert len(evidence.beat_indices) >= len(times) - 1 and "native rhythm analysis: sinus_rhythm" in evidence.threshold
    # the paced QRS is still measured (spikes removed): its duration is the simulator's
    assert abs(result.global_.qrs_ms - sim.truth.qrs_ms) <= 12.0
    assert abs(result.global_.heart_rate_bpm - sim.truth.heart_rate_bpm) <= 1.0


def _f_waves(seed: int, mv: float = 0.06) -> np.ndarray:
    """Fibrillatory waves alone (mV): a simulated AF record minus the same record without them."""
    config = sample_config(seed, fs_hz=FS, labels=["atrial_fibrillation"])
    with_f, without = (simulate(config.model_copy(update={"atrial_activity_mv": a})) for a in (mv, 0.0))
    return with_f.recording.signal_mv - without.recording.signal_mv


@pytest.mark.parametrize("seed", [0, 2])
def test_fibrillatory_waves_beneath_a_regular_paced_rhythm_are_underlying_af(seed):
    # The regular paced RR cannot show AF; V1's QRS-T-cancelled residual can.
    sim = simulate(sample_config(seed, fs_hz=FS))
    paced = _add_spikes(sim.recording, _ventricular_spikes(sim))
    plain = measure(paced, CONFIG).rhythm
    assert plain.label == "paced_rhythm" and plain.underlying is None
    assert plain.evidence.values["v1_f_wave_4_9hz_fraction"] < CONFIG.af_wave_band_fraction
    rhythm = measure(paced.with_signal(paced.signal_mv + _f_waves(seed)), CONFIG).rhythm
    assert rhythm.label == "paced_rhythm" and rhythm.underlying == "atrial_fibrillation"
    assert rhythm.evidence.values["v1_f_wave_rms_mv"] >= CONFIG.af_wave_min_mv
    assert rhythm.evidence.values["v1_f_wave_4_9hz_fraction"] >= CONFIG.af_wave_band_fraction
    assert "underlying AF" in rhythm.evidence.threshold


@pytest.mark.parametrize("seed", range(6))
def test_p_waves_dissociated_from_paced_beats_are_not_af(seed):
    sim = simulate(sample_config(seed, fs_hz=FS, labels=["av_block_3"]))
    rhythm = measure(_add_spikes(sim.recording, _ventricular_spikes(sim)), CONFIG).rhythm
    assert rhythm.label == "paced_rhythm" and rhythm.underlying is None


def test_irregular_af_beneath_ventricular_pacing_keeps_its_native_label():
    sim = simulate(sample_config(4, fs_hz=FS, labels=["atrial_fibrillation"]))
    assert measure(sim.recording, CONFIG).rhythm.label == "atrial_fibrillation"
    rhythm = measure(_add_spikes(sim.recording, _ventricular_spikes(sim)), CONFIG).rhythm
    assert rhythm.label == "paced_rhythm" and rhythm.underlying == "atrial_fibrillation"


def test_atrial_spikes_give_paced_rhythm_but_keep_conduction_statements():
    sim = simulate(sample_config(2, fs_hz=FS, labels=["lbbb"]))
    times = [b.p_on_s - 0.01 for b in sim.truth.beats if b.p_on_s is not None and b.p_on_s > 0.1]
    result = measure(_add_spikes(sim.recording, times, scale=0.5), CONFIG)
    assert result.rhythm.label == "paced_rhythm"
    assert result.rhythm.evidence.values["atrial_paced_count"] >= len(times) - 1
    assert result.rhythm.evidence.values["ventricular_paced_count"] == 0
    assert "lbbb" in {s.code for s in result.statements}
    assert not any(key.startswith("statements.lbbb") for key in result.not_measurable)


def test_spikes_survive_nan_gaps_and_gap_edges_are_not_spikes():
    sim = simulate(sample_config(3, fs_hz=FS))
    signal = np.array(sim.recording.signal_mv)
    for col in range(12):  # a 3x4 page: each lead finite in one 2.5-s column only
        window = np.zeros(signal.shape[0], bool)
        k = col // 3  # I-III, then aVR-aVF, V1-V3, V4-V6
        window[int(2.5 * k * FS):int(2.5 * (k + 1) * FS)] = True
        signal[~window, col] = np.nan
    gapped = sim.recording.with_signal(signal)
    assert remove_pacing_spikes(gapped.signal_mv, FS, gapped.leads)[1].size == 0
    # the precordial columns show 3 independent leads; the limb columns only 2 (a known blind spot)
    times = [t for t in _ventricular_spikes(sim) if 0.1 < t % 2.5 < 2.4]
    spiked = _add_spikes(gapped, times)
    cleaned, found = remove_pacing_spikes(spiked.signal_mv, FS, spiked.leads)
    assert np.allclose(found / FS, [t for t in times if t > 5.0], atol=2.5 / FS)
    assert np.array_equal(np.isnan(cleaned), np.isnan(spiked.signal_mv))


def test_one_isolated_spike_is_an_artefact():
    sim = simulate(sample_config(4, fs_hz=FS))
    spiked = _add_spikes(sim.recording, [5.0])
    cleaned, found = remove_pacing_spikes(spiked.signal_mv, FS, spiked.leads)
    assert found.size == 0 and cleaned is spiked.signal_mv
    assert "pacing" not in measure(spiked, CONFIG).quality.flags


def test_limb_leads_alone_are_not_enough():
    """Noise on one limb electrode shows in all six limb leads at once: they count as two leads."""
    sim = simulate(sample_config(5, fs_hz=FS))
    signal = np.array(sim.recording.signal_mv)
    for t in _ventricular_spikes(sim):
        signal[round(t * FS), :6] += np.array([_SPIKE_MV[lead] for lead in LEADS[:6]])
    assert remove_pacing_spikes(signal, FS, LEADS)[1].size == 0
    assert remove_pacing_spikes(_add_spikes(sim.recording, _ventricular_spikes(sim)).signal_mv, FS, LEADS)[1].size


def test_low_sampling_rate_and_short_records_detect_nothing():
    sim = simulate(sample_config(6, fs_hz=200.0))
    spiked = _add_spikes(sim.recording, _ventricular_spikes(sim))
    assert remove_pacing_spikes(spiked.signal_mv, 200.0, spiked.leads)[1].size == 0
    result = measure(spiked, CONFIG)  # a claim of pacing is then unverifiable, not refuted
    assert result.rhythm.label != "paced_rhythm" and "200 Hz" in result.not_measurable["statements.paced_rhythm"]
    short = np.zeros((int(1.5 * FS), 12))
    short[[200, 500]] = 5.0
    assert remove_pacing_spikes(short, FS, LEADS)[1].size == 0


def test_paced_beats_exact():
    qrs_on = np.array([500.0, 1000.0, 1500.0, 2000.0])
    spikes = np.array([495, 1010, 1400, 1700])  # 10 ms before, 20 ms after, 200 ms before, 600 ms before
    paced = paced_beats(spikes, qrs_on, FS)
    assert paced.ventricular.tolist() == [True, True, False, False]
    assert paced.atrial.tolist() == [False, False, True, False]
    empty = paced_beats(np.zeros(0, int), qrs_on, FS)
    assert not empty.ventricular.any() and not empty.atrial.any()


@pytest.mark.parametrize(("shape", "fs_hz"), [("decay", 500.0), ("box", 500.0), ("box", 1000.0)])
def test_stimuli_stored_as_steps_give_paced_rhythm(shape, fs_hz):
    sim = simulate(sample_config(1, fs_hz=fs_hz, labels=["lbbb"]))
    times = _ventricular_spikes(sim, lead_s=0.03)
    stored = _add_stored_stimuli(sim.recording, times, shape)
    assert remove_pacing_spikes(stored.signal_mv, fs_hz, stored.leads)[1].size == 0  # the running median keeps them
    result = measure(stored, CONFIG)
    assert "pacing" in result.quality.flags and result.rhythm.label == "paced_rhythm"
    assert not {s.code for s in result.statements} & BUNDLE_CODES
    # one stimulus per beat at the step (a box's trailing edge is not another one)
    found = np.array(result.quality.pacing_spike_times_s)
    assert len(found) == len(times) and np.max(np.abs(found - np.array(times))) <= 1.5 / fs_hz


def test_steps_not_locked_to_the_qrs_are_not_pacing():
    """Segment-join steps fall anywhere in the cycle; steps before only 70 % of the beats are not enough."""
    sim = simulate(sample_config(1, fs_hz=FS, labels=["lbbb"]))
    on = [b.qrs_on_s for b in sim.truth.beats if b.qrs_on_s is not None]
    times = [on[i] + f * (on[i + 1] - on[i]) for i, f in zip((1, 3, 5, 7, 9), (0.3, 0.5, 0.7, 0.45, 0.6), strict=True)]
    stored = _add_stored_stimuli(sim.recording, times, "box")
    assert pacing_steps(stored.signal_mv, FS, stored.leads).size >= 2 * len(times) - 1  # both edges of each box
    assert "pacing" not in measure(stored, CONFIG).quality.flags
    paced = _ventricular_spikes(sim, lead_s=0.03)
    stored = _add_stored_stimuli(sim.recording, paced[:int(0.7 * len(paced))], "decay")
    assert "pacing" not in measure(stored, CONFIG).quality.flags


@pytest.mark.parametrize(("seed", "quantum_mv"), [(3, 0.1), (7, 0.05)])
def test_a_coarsely_quantized_trace_is_not_paced(seed, quantum_mv):
    """Rounded to 0.05-0.1 mV, every lead jumps by one quantum after flat samples at each QRS onset:
    locked, simultaneous one-sample steps that read as stored stimuli before steps had to span
    several quanta. A stored stimulus spanning several quanta is still found on the same trace."""
    sim = simulate(sample_config(seed, fs_hz=FS))
    quantized = sim.recording.with_signal(np.round(sim.recording.signal_mv / quantum_mv) * quantum_mv)
    result = measure(quantized, CONFIG)
    assert "pacing" not in result.quality.flags and result.rhythm.label == measure(sim.recording, CONFIG).rhythm.label
    stored = _add_stored_stimuli(quantized, _ventricular_spikes(sim, lead_s=0.03), "box", scale=0.5)
    assert "pacing" in measure(stored, CONFIG).quality.flags


def test_locked_steps_exact():
    r = np.arange(10) * 500 + 600
    assert locked_steps(r - 40, r, FS).tolist() == (r - 40).tolist()
    jittered = r - 40 + np.array([0, 3, -3, 1, 0, -2, 3, 0, 1, -1])  # within the 6 ms (3 samples) allowed
    assert locked_steps(jittered, r, FS).tolist() == jittered.tolist()
    joins = np.array([100, 1777, 3333])  # not at the delay: dropped
    assert locked_steps(np.sort(np.concatenate([r - 40, joins])), r, FS).tolist() == (r - 40).tolist()
    assert locked_steps(r[:7] - 40, r, FS).size == 0  # 7 of 10 beats < 80 %
    assert locked_steps(r[:8] - 40, r, FS).tolist() == (r[:8] - 40).tolist()
    boxes = np.sort(np.concatenate([r - 40, r - 27]))  # a box's trailing edge 26 ms later
    assert locked_steps(boxes, r, FS).tolist() == (r - 40).tolist()
    atrial_and_ventricular = np.sort(np.concatenate([r - 40, r - 140]))  # each at its own delay
    assert locked_steps(atrial_and_ventricular, r, FS).tolist() == atrial_and_ventricular.tolist()
    assert locked_steps(r + 5, r, FS).size == 0  # after the fiducial: not a stimulus
    assert locked_steps(r[:3] - 40, r[:3], FS).size == 3 and locked_steps(r[:2] - 40, r[:2], FS).size == 0


# ---- specificity: no pacing flag on non-paced records -------------------------------------------
def test_no_spikes_on_noisy_simulated_records():
    flagged = []
    for seed in range(60):
        rec = simulate(sample_config(seed, fs_hz=FS, noisy=True)).recording
        if _pacing_found(rec):
            flagged.append(seed)
    assert not flagged


@pytest.mark.parametrize(("seed", "code"), [(309, "av_block_3"), (319, "av_block_3"), (308, "sinus_bradycardia"),
                                          (316, "av_block_2_wenckebach"), (1, "atrial_fibrillation"), (2, "lbbb")])
def test_no_spikes_on_slow_or_wide_rhythms_direct_and_on_3x4_pages(seed, code):
    """Slow rates leave 1-s windows without a QRS, and a page's 2.5-s columns would cut the slope
    reference short: both once made P and T slopes the reference (false spikes on these seeds)."""
    for noisy in (False, True):
        rec = simulate(sample_config(seed, fs_hz=FS, labels=[code], noisy=noisy)).recording
        for version in (rec, _as_3x4_page(rec)):
            assert not _pacing_found(version)


def test_no_spikes_on_real_records():
    for name in ("JS00001.hea", "s0010_re.hea", "00001_lr.hea", "100.hea"):
        rec = read_record(shared_path("records", name))
        assert not _pacing_found(rec), name


# ---- LUDB ----------------------------------------------------------------------------------------
def _ludb(rec_id: int) -> Recording:
    return read_record(shared_path("ludb", "data", f"{rec_id}.hea"))


def test_ludb_non_paced_records_have_no_spikes():
    labels = ludb_labels(shared_path("ludb", "ludb.csv"))
    flagged = []
    for rec_id, lab in labels.items():
        if not lab["pacing"] and _pacing_found(_ludb(rec_id)):
            flagged.append(rec_id)
    assert len([i for i in labels if not labels[i]["pacing"]]) >= 140 and not flagged


@pytest.mark.parametrize("rec_id", LUDB_SPIKES)
def test_ludb_paced_records_with_visible_spikes_are_flagged(rec_id):
    assert ludb_labels(shared_path("ludb", "ludb.csv"))[rec_id]["pacing"]
    rec = _ludb(rec_id)
    _, found = remove_pacing_spikes(rec.signal_mv, rec.fs_hz, rec.leads)
    assert found.size >= 2
    if rec_id in LUDB_VENTRICULAR_PACED:
        result = measure(rec, CONFIG)
        assert result.rhythm.label == "paced_rhythm" and "pacing" in result.quality.flags
        assert not {s.code for s in result.statements} & BUNDLE_CODES


def test_ludb_af_beneath_biventricular_pacing_is_the_underlying_rhythm():
    # LUDB 93: AF under regular biventricular pacing; the other ventricular-paced records are
    # sinus rhythm (34, 74, 90, 111 with third-degree block: P waves dissociated from the paced beats).
    labels = ludb_labels(shared_path("ludb", "ludb.csv"))
    for rec_id in LUDB_VENTRICULAR_PACED:
        rhythm = measure(_ludb(rec_id), CONFIG).rhythm
        assert rhythm.label == "paced_rhythm"
        assert (rhythm.underlying == "atrial_fibrillation") == labels[rec_id]["af"], rec_id
        assert labels[rec_id]["af"] == (rec_id == 93)


@pytest.mark.parametrize("rec_id", LUDB_STORED_STEPS)
def test_ludb_stimuli_stored_as_steps_are_found(rec_id):
    assert ludb_labels(shared_path("ludb", "ludb.csv"))[rec_id]["pacing"]
    rec = _ludb(rec_id)
    assert remove_pacing_spikes(rec.signal_mv, rec.fs_hz, rec.leads)[1].size == 0
    result = measure(rec, CONFIG)
    assert result.rhythm.label == "paced_rhythm" and "pacing" in result.quality.flags
    assert not {s.code for s in result.statements} & (BUNDLE_CODES | QT_CODES)
    dominant = result.rhythm.evidence.values["dominant_count"]
    assert result.rhythm.evidence.values["ventricular_paced_count"] >= 0.8 * dominant


@pytest.mark.parametrize("rec_id", LUDB_SEGMENT_JOINS)
def test_ludb_segment_join_steps_are_not_pacing(rec_id):
    rec = _ludb(rec_id)
    assert not ludb_labels(shared_path("ludb", "ludb.csv"))[rec_id]["pacing"]
    assert pacing_steps(rec.signal_mv, rec.fs_hz, rec.leads).size >= 3  # the steps are there...
    assert "pacing" not in measure(rec, CONFIG).quality.flags  # ...but not locked to the QRS


def test_ludb_paced_qrs_starts_at_the_stimulus():
    # The spike is removed before delineation; its trace had pulled the QRS onset 20-40 ms before
    # the stimulus (QRS +30 to +56 ms against the cardiologists). No activity precedes the stimulus.
    errors = []
    for rec_id in LUDB_VENTRICULAR_PACED:
        rec = _ludb(rec_id)
        result = measure(rec, CONFIG)
        reference = ludb_reference(read_ludb_annotations(shared_path("ludb", "data") / str(rec_id)), rec.fs_hz, rank=2)
        stimulus = np.median([s - b.r_s for b in result.fiducials.beats for s in result.quality.pacing_spike_times_s
                              if abs(s - b.qrs_on_s) < 0.03])
        assert result.fiducials.median_s["qrs_on"] >= stimulus - 1e-9
        errors.append(result.global_.qrs_ms - reference["qrs_ms"])
    assert max(errors) <= 35.0 and np.mean(errors) <= 22.0, errors


# ---- the claim pattern ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["Paced rhythm.", "Ventricular pacing at 70 bpm.", "Pacemaker rhythm.",
                                  "V-paced rhythm.", "AV paced.", "Biventricular pacing.",
                                  "Pacing spikes precede each QRS.", "Dual-chamber pacemaker rhythm."])
def test_paced_claims_parse_to_paced_rhythm(text):
    claims = [c for c in parse_claims(text) if c.kind == "rhythm"]
    assert [(c.code, c.negated) for c in claims] == [("paced_rhythm", False)]


@pytest.mark.parametrize("text", ["Wandering atrial pacemaker.", "Ectopic atrial pacemaker rhythm."])
def test_native_atrial_pacemaker_is_not_a_paced_rhythm(text):
    assert all(c.code != "paced_rhythm" for c in parse_claims(text))
