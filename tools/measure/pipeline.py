"""``measure``: recording in, :class:`~tools.measure.result.Measurement` out.

Stages (one module each): preprocess -> beats -> median_beat -> delineation -> atrial ->
intervals/axes -> rhythm -> lead_matrix -> quality -> statements.
"""

from __future__ import annotations

import numpy as np

from tools.errors import InputError, MeasurementError
from tools.measure.atrial import (AtrialActivity, AtrialWaves, atrial_waves, fibrillatory_waves, locate_p_waves,
                                  p_consistency)
from tools.measure.beats import Beats, detect_beats
from tools.measure.config import MeasureConfig
from tools.measure.delineation import FIDUCIALS, Delineation, delineate, p_timing_doubt
from tools.measure.intervals import frontal_axis_deg, net_areas, qtc_ms
from tools.measure.lead_matrix import lead_matrix
from tools.measure.lead_scaling import lead_scaling
from tools.measure.median_beat import MedianBeats, median_beats, smooth_noisy_leads
from tools.measure.preprocess import (
    SPIKE_MIN_FS_HZ,
    filter_leads,
    locked_steps,
    mains_frequency,
    paced_beats,
    pacing_steps,
    remove_pacing_spikes,
    upsample,
)
from tools.measure.quality import lead_quality, limb_reversal_suspected
from tools.measure.result import (
    Axes,
    BeatFiducials,
    Evidence,
    Fiducials,
    GlobalMeasurements,
    LeadQuality,
    Measurement,
    Quality,
    Rhythm,
)
from tools.measure.rhythm import RateStats, classify_rhythm, group_positions, rate_stats
from tools.measure.statements import AMPLITUDE_CODES, abnormal_codes, make_statements, normal_ecg_gap
from tools.recording import Recording

__all__ = ["measure", "FS_RANGE_HZ"]

FS_RANGE_HZ = (100.0, 1000.0)
_MIN_BEATS = 3
_TERMINAL_S = 0.04
_MIN_PACED_BEATS = 2  # dominant beats started by a spike that make the rhythm ventricular-paced
_PACED_ONSET_FALLBACK_S = 0.04  # QRS onset before its fiducial when the median beat was not delineated
# Statements a paced QRS cannot support: its width and shape come from the pacing site, its AV delay
# from the pacemaker's programming, and the wide paced QRS lengthens the QT that QTc limits assume.
_PACED_CODES = ("rbbb", "lbbb", "ivcd", "lafb", "av_block_1", "av_block_2_wenckebach", "av_block_2_mobitz2",
                "long_qt", "short_qt")


_FLUTTER_T_END = "atrial flutter: F waves run through the end of the T wave, which cannot be told from them"
# The same locked F waves lie on the PR and ST segments: 23 of 40 simulated flutter records (no ST
# change simulated) read an ST elevation.
_FLUTTER_ST = "atrial flutter: F waves lie on the PR and ST segments, so the ST level and T wave are not measurable"
_POSSIBLE_FLUTTER_T_END = ("2:1 atrial flutter not excluded (see the rhythm): its F waves, or P waves on the T wave, "
                           "would run through the end of the T wave, which cannot be told from them")
_T_END_ON_P = ("the next P wave starts on the T wave (this P wave's onset lies where the T end found, one RR "
               "earlier, put the start of its search): the T end cannot be told from that P wave")
_POSSIBLE_FLUTTER_ST = ("2:1 atrial flutter not excluded (see the rhythm): its F waves would lie on the ST segment, so "
                        "the ST level and T wave are not measurable")
_PLACE_BY_PLACE = ("; P waves read place by place in the group of {} beats that repeats (the P wave after the pause "
                   "as template, one lag per place from the mean of its beats' correlations)")
_FEW_DETECTING_LEADS = ("QRS complexes stand out in only {} of {} leads (in the others the P and T waves weigh as much): "
                        "beats were found on those for the rate and rhythm, but such a QRS is not delineated reliably")
_ST_T_CODES = ("st_elevation_inferior", "st_elevation_anterior", "st_elevation_lateral", "st_depression",
               "t_inversion")


def _interval_ms(g: dict[str, float | None], start: str, end: str) -> float | None:
    return None if g[start] is None or g[end] is None else (g[end] - g[start]) * 1000.0


def _global(d: Delineation, median: MedianBeats, leads: tuple[str, ...], rates: RateStats, atrial_rate: float | None,
            usable: np.ndarray, limb_gains: dict[str, float]) -> tuple[GlobalMeasurements, dict[str, dict[str, float]]]:
    g = d.global_s
    beat = np.where(usable[None, :], median.signal_mv, np.nan)
    areas = {wave: net_areas(beat, leads, d.baseline_mv, median.fiducial_index, median.fs_hz, g[a], g[b])
             for wave, a, b in (("p", "p_on", "p_off"), ("qrs", "qrs_on", "qrs_off"), ("t", "qrs_off", "t_off"))}
    # The axis depends on gain ratios only: leads rescaled one by one still give it once divided back.
    axis_areas = {wave: {k: v / limb_gains.get(k, 1.0) for k, v in by_lead.items()} for wave, by_lead in areas.items()}
    qt = _interval_ms(g, "qrs_on", "t_off")
    return GlobalMeasurements(
        heart_rate_bpm=rates.heart_rate_bpm, atrial_rate_bpm=atrial_rate, rr_ms=rates.rr_ms, rr_sd_ms=rates.rr_sd_ms,
        rr_min_ms=rates.rr_min_ms, rr_max_ms=rates.rr_max_ms, p_duration_ms=_interval_ms(g, "p_on", "p_off"),
        pr_ms=_interval_ms(g, "p_on", "qrs_on"), qrs_ms=_interval_ms(g, "qrs_on", "qrs_off"), qt_ms=qt,
        qtc_ms=qtc_ms(qt, rates.rr_ms),
        axis_deg=Axes(p=frontal_axis_deg(axis_areas["p"]), qrs=frontal_axis_deg(axis_areas["qrs"]),
                      t=frontal_axis_deg(axis_areas["t"])),
    ), areas


def _beat_fiducials(beats: Beats, d: Delineation, atrial: AtrialActivity, fs: float) -> list[BeatFiducials]:
    g, out = d.global_s, []
    # A beat's PR is timed from the median P onset, which is withheld when it cannot be seen (on the
    # T wave before it, ...), or from a rebuilt template's own onset (locate_p_waves).
    timed = atrial.onset == "beats" or (atrial.onset == "median" and g["p_on"] is not None)
    for i, (t, kind) in enumerate(zip(beats.times_s(fs), beats.kinds)):
        dominant = kind in "NA"
        pr = atrial.pr_s[i]

        def at(name: str, ok: bool = True) -> float | None:
            return None if g[name] is None or not ok else t + g[name]
        out.append(BeatFiducials(
            index=i, kind=kind, r_s=t, p_on_s=at("p_on", dominant), p_off_s=at("p_off", dominant),
            qrs_on_s=t + (g["qrs_on"] or 0.0), qrs_off_s=t + (g["qrs_off"] or 0.0), t_off_s=at("t_off", dominant),
            pr_ms=float(pr * 1000) if np.isfinite(pr) and timed else None))
    return out


def _not_measurable(gm: GlobalMeasurements, d: Delineation, n_beats: int, rhythm_reason: str | None,
                    no_p: bool) -> dict[str, str]:
    why_p = "atrial fibrillation or flutter: no P waves" if no_p else (d.reasons.get("p_on") or "P wave not delineated")
    why = {"p": why_p, "qrs": d.reasons.get("qrs_on", "QRS not delineated"), "t": d.reasons.get("t_off", "T end not found")}
    if n_beats < 2:
        why = {k: f"{n_beats} beat(s) detected" for k in why}
    reasons = {}
    no_rr = (f"{n_beats} beat(s): an RR needs 2" if n_beats < 2 else
             "no RR interval observed: a gap in every lead lies between every two consecutive beats")
    for path, value, cause in (
            ("global.heart_rate_bpm", gm.heart_rate_bpm, no_rr), ("global.rr_ms", gm.rr_ms, no_rr),
            ("global.rr_sd_ms", gm.rr_sd_ms, "fewer than 2 RR intervals between dominant beats"),
            ("global.atrial_rate_bpm", gm.atrial_rate_bpm, "no organised P wave conducted 1:1"),
            ("global.p_duration_ms", gm.p_duration_ms, why["p"]), ("global.pr_ms", gm.pr_ms, why["p"]),
            ("global.qrs_ms", gm.qrs_ms, why["qrs"]), ("global.qt_ms", gm.qt_ms, why["t"]),
            ("global.axis_deg.p", gm.axis_deg.p, why["p"] if gm.p_duration_ms is None else "fewer than 2 usable limb leads"),
            ("global.axis_deg.qrs", gm.axis_deg.qrs, why["qrs"] if gm.qrs_ms is None else "fewer than 2 usable limb leads"),
            ("global.axis_deg.t", gm.axis_deg.t, why["t"] if gm.qt_ms is None else "fewer than 2 usable limb leads")):
        if value is None:
            reasons[path] = cause
    for name in ("bazett", "fridericia", "framingham", "hodges"):
        if getattr(gm.qtc_ms, name) is None:
            reasons[f"global.qtc_ms.{name}"] = "QT or RR not measurable"
    if rhythm_reason:
        reasons["rhythm.label"] = rhythm_reason
    return reasons


def _check(recording: Recording) -> None:
    if not FS_RANGE_HZ[0] <= recording.fs_hz <= FS_RANGE_HZ[1]:
        raise InputError(f"fs_hz={recording.fs_hz:g} is outside the {FS_RANGE_HZ[0]:g}-{FS_RANGE_HZ[1]:g} Hz "
                         "that measure supports; resample first")


def measure(recording: Recording, config: MeasureConfig) -> Measurement:
    """Measure a recording the way a clinical program does: median beat first, then rules.

    Parameters
    ----------
    recording : Recording
        Any lead subset, 100-1000 Hz, NaN gaps allowed (digitized 3x4 pages). Below 500 Hz it is
        measured resampled to 500 Hz (pacing spikes are found at the recorded rate first).
    config : MeasureConfig

    Returns
    -------
    Measurement
        Nulls carry their reason in ``not_measurable``; technical problems are in ``quality.flags``.

    Raises
    ------
    InputError
        Sampling rate outside 100-1000 Hz.
    MeasurementError
        No lead has a finite run long enough to filter (0.5 s).
    """
    _check(recording)
    in_fs, leads = recording.fs_hz, recording.leads
    cleaned, spikes = remove_pacing_spikes(recording.signal_mv, in_fs, leads)
    mains_hz = mains_frequency(recording.signal_mv, in_fs)  # spike removal lowers the floor beside the line
    steps = np.zeros(0, dtype=int) if spikes.size else pacing_steps(recording.signal_mv, in_fs, leads)
    # Spikes and steps are found at the recorded rate (resampling smears them), the rest at >= 500 Hz.
    raw, fs = upsample(recording.signal_mv, in_fs)
    cleaned = upsample(cleaned, in_fs)[0]
    spikes, steps = (np.round(samples * fs / in_fs).astype(int) for samples in (spikes, steps))
    detection = filter_leads(cleaned, fs, config.detection_lowpass_hz, config, mains_hz)
    filtered = filter_leads(cleaned, fs, config.measurement_lowpass_hz, config, mains_hz)
    if not np.isfinite(filtered).any():
        raise MeasurementError("no lead has 0.5 s of continuous signal: nothing can be measured")
    beats = detect_beats(detection, fs, config)
    if not spikes.size:  # stimuli stored as steps, which the running median keeps (see "Paced ECGs")
        spikes = locked_steps(steps, beats.r_samples[beats.dominant], fs)
    n_beats = len(beats.r_samples)
    rates = rate_stats(beats, fs)
    median = median_beats(filtered, beats, fs, config)
    quality_rows = lead_quality(raw, filtered, beats, median, leads)
    usable = np.array([row.usable for row in quality_rows])
    enough = n_beats >= _MIN_BEATS or (n_beats >= 1 and bool(usable.any()))
    masked = MedianBeats(np.where(usable[None, :], median.signal_mv, np.nan), median.fiducial_index, fs, median.n_beats)
    rr_s = beats.median_rr_s(fs)
    timing, lowpassed = smooth_noisy_leads(masked)  # boundaries only: amplitudes stay unfiltered
    d = delineate(timing, rr_s, config, lowpassed=lowpassed) if enough and usable.any() else _empty_delineation(len(leads), n_beats)
    # P waves are matched beat by beat, and the rhythm strip read, below the detection low-pass
    # (40 Hz): muscle noise above it cost the P waves of simulated sinus arrhythmia their beat-to-
    # beat correlation (0.99 -> 0.79) and made them AF. Whether the median P wave can be timed is
    # still judged at the measurement bandwidth, whose noise the delineated median beat carries.
    atrial = locate_p_waves(detection, beats, masked, d, rebuild=config)
    # The rhythm still reads the P waves found; only their timing (P duration, PR) is withheld.
    p_doubt = p_timing_doubt(d, p_consistency(filtered, beats, masked, d), config)
    p_ms = None if p_doubt or beats.detecting_leads is not None else _interval_ms(d.global_s, "p_on", "qrs_on")
    waves = atrial_waves(detection, beats, masked, leads, d)
    rhythm, rhythm_reason = classify_rhythm(beats, atrial, waves, rates, p_ms, fs, config)
    if rhythm.label is None and rhythm.rr_pattern_beats is not None:
        # Grouped beating whose P waves were lost beat by beat: read them place by place in the group.
        grouped = locate_p_waves(detection, beats, masked, d, rebuild=config,
                                 positions=group_positions(beats, rates, fs))
        if (wenckebach := _wenckebach(classify_rhythm(beats, grouped, waves, rates, p_ms, fs, config))) is not None:
            atrial, (rhythm, rhythm_reason) = grouped, wenckebach
    no_p = rhythm.label in ("atrial_fibrillation", "atrial_flutter")
    t_window_end = None
    # F waves locked to the QRS survive the median beat, also where 2:1 flutter is only possible
    # (the rhythm undetermined with an F-wave rate in its evidence).
    f_waves = rhythm.label == "atrial_flutter" or (rhythm.label is None and "flutter_wave_rate_bpm" in
                                                   rhythm.evidence.values)
    if f_waves and enough and usable.any():
        d = delineate(timing, rr_s, config, flutter_waves=True, lowpassed=lowpassed)
    if no_p:
        d = d.with_points(p_on=None, p_off=None)
    elif p_doubt:
        d = d.with_points(p_doubt, p_on=None, p_off=None)
    if f_waves:
        # F waves locked to the QRS run through the end of the T wave in the median beat too:
        # the T end found is an F wave's (simulated flutter: QT +37 ± 26 ms; 26 of 40 flutter
        # records beyond 25 ms), so QT is withheld, not guessed.
        d = d.with_points(_FLUTTER_T_END if no_p else _POSSIBLE_FLUTTER_T_END, t_off=None)
    elif d.p_on_t_end and not no_p:  # P waves, the next one beginning before the T end found
        # Measured in docs/measurement.md, "QT: a T end the next P wave hides". The T wave itself
        # precedes that P wave: its amplitude is still read up to the end found.
        t_window_end = d.global_s["t_off"]
        d = d.with_points(_T_END_ON_P, t_off=None)
    atrial_rate = _atrial_rate(rhythm, rates, waves)
    native = rhythm.label
    rhythm, withheld, stimulus_s = _paced_rhythm(rhythm, beats, spikes, d.global_s["qrs_on"], fs, in_fs)
    if stimulus_s is not None:  # ventricular-paced: the paced RR no longer shows the atrial rhythm
        rhythm = _with_underlying(rhythm, native, fibrillatory_waves(detection, beats, masked, leads), config)
    if f_waves and rhythm.label == native:  # not relabelled paced
        why = _FLUTTER_ST if no_p else _POSSIBLE_FLUTTER_ST
        withheld = withheld | {f"statements.{code}": why for code in _ST_T_CODES}
    if stimulus_s is not None and d.global_s["qrs_on"] is not None and d.global_s["qrs_on"] < stimulus_s:
        # No ventricular activity precedes the stimulus: an earlier onset is the removed spike's trace.
        d = d.with_points(qrs_on=stimulus_s)
    if beats.detecting_leads is not None:
        # The QRS of such records is not delineated reliably (noisy low-voltage ones read a QRS of 236
        # ms with LBBB and ST elevation): their rate and rhythm stand, no fiducial does.
        d = _empty_delineation(len(leads), n_beats, _FEW_DETECTING_LEADS.format(
            int(beats.detecting_leads.sum()), len(leads)))
    scaling = lead_scaling(recording.signal_mv, leads, in_fs)
    gm, areas = _global(d, masked, leads, rates, atrial_rate, usable, scaling.limb_gains or {})
    rows = lead_matrix(masked, leads, d, usable, t_window_end)
    g = d.global_s
    terminal = {} if g["qrs_off"] is None else {
        k: v / _TERMINAL_S for k, v in net_areas(masked.signal_mv, leads, d.baseline_mv, masked.fiducial_index, fs,
                                                 g["qrs_off"] - _TERMINAL_S, g["qrs_off"]).items()}
    rhythm_reason = None if rhythm.label == "paced_rhythm" else rhythm_reason
    statements = [st for st in make_statements(gm, rhythm, rows, terminal, config,
                                               beats.times_s(fs),
                                               amplitudes_physical=scaling.amplitudes_physical)
                  if f"statements.{st.code}" not in withheld]
    # Without a QRS no rule applies, and the delineation says why (no beat, beats on a few leads only).
    normal_gap = d.reasons.get("qrs_on") if g["qrs_on"] is None else None
    normal_gap = normal_gap or normal_ecg_gap(gm, {row.lead: row for row in rows})
    unassessed = {"statements.normal_ecg": normal_gap} if normal_gap and not abnormal_codes(statements) else {}
    reversal = limb_reversal_suspected(areas["qrs"], areas["p"], areas["t"])
    flags = _flags(quality_rows, n_beats, spikes, reversal) + scaling.flags()
    if beats.rr_observed is not None and not beats.rr_observed.all():
        flags.append("signal_gap")
    if mains_hz is not None:
        flags.append("mains_interference")
    if lowpassed.any():
        flags.append("noise_lowpass")
    if beats.detecting_leads is not None:
        flags.append("qrs_in_few_leads")
    result = Measurement(
        fs_hz=in_fs, duration_s=recording.duration_s, leads_present=list(leads), **{"global": gm}, rhythm=rhythm,
        statements=statements, leads=rows,
        quality=Quality(leads=quality_rows, limb_lead_reversal_suspected=reversal,
                        pacing_spike_times_s=[float(s / fs) for s in spikes], limb_lead_gains=scaling.limb_gains,
                        mains_hz=mains_hz, flags=flags),
        fiducials=Fiducials(median_s=g, median_window_s=(float(masked.time_s()[0]), float(masked.time_s()[-1])),
                            beats=_beat_fiducials(beats, d, atrial, fs) if g["qrs_on"] is not None else []),
        not_measurable=_not_measurable(gm, d, n_beats, rhythm_reason, no_p) | unassessed
        | {f"statements.{code}": scaling.reason() for code in AMPLITUDE_CODES if not scaling.amplitudes_physical}
        | withheld)
    result._median_mv, result._median_fs_hz = median.signal_mv, fs
    return result


def _wenckebach(classified: tuple[Rhythm, str | None]) -> tuple[Rhythm, str | None] | None:
    """The rhythm read from P waves located place by place in a repeating group, if it is
    Wenckebach (its AV-block rule then says how the P waves were read); None otherwise."""
    rhythm, reason = classified
    if rhythm.av_block != "av_block_2_wenckebach":
        return None
    found = rhythm.av_block_evidence
    rule = found.threshold + _PLACE_BY_PLACE.format(rhythm.rr_pattern_beats)
    return rhythm.model_copy(update={"av_block_evidence": found.model_copy(update={"threshold": rule})}), reason


def _atrial_rate(rhythm: Rhythm, rates: RateStats, waves: AtrialWaves) -> float | None:
    """Atrial rate (bpm): the ventricular rate where every P wave is conducted (sinus rhythms, also
    with first-degree block), the F-wave rate in flutter, the dissociated P-wave rate in
    third-degree block; None otherwise (AF, second-degree block, no P wave)."""
    if rhythm.label and rhythm.label.startswith("sinus") and rhythm.av_block in (None, "av_block_1"):
        return rates.heart_rate_bpm
    if rhythm.label == "atrial_flutter":
        return rhythm.evidence.values["flutter_wave_rate_bpm"]
    return waves.dissociated.rate_bpm if rhythm.label == "av_block_3" else None


def _paced_rhythm(rhythm: Rhythm, beats: Beats, spikes: np.ndarray, qrs_on_s: float | None,
                  fs: float, recorded_fs: float) -> tuple[Rhythm, dict[str, str], float | None]:
    """``paced_rhythm`` when dominant beats follow pacing spikes (see the evidence threshold).

    Returns the rhythm (relabelled, its evidence naming the paced beats and the spike times);
    when the ventricles are paced, the conduction statements a paced QRS makes meaningless, keyed
    ``statements.<code>`` with the reason (below 250 Hz: ``statements.paced_rhythm``, since spikes
    are not resolved at the ``recorded_fs`` rate); and the median time (s, from the QRS fiducial) of
    the spike that starts a ventricular-paced beat (None otherwise). ``beats`` and ``spikes`` are
    samples at ``fs``. The native rhythm analysis is kept in the evidence.
    """
    if recorded_fs < SPIKE_MIN_FS_HZ:
        return rhythm, {"statements.paced_rhythm": f"pacing spikes (< 2 ms) are not resolved at {recorded_fs:g} Hz "
                                                   f"(needs >= {SPIKE_MIN_FS_HZ:g} Hz)"}, None
    dominant = beats.dominant
    if not spikes.size or not dominant.any():
        return rhythm, {}, None
    onset = beats.r_samples + (qrs_on_s if qrs_on_s is not None else -_PACED_ONSET_FALLBACK_S) * fs
    paced = paced_beats(spikes, onset, fs)
    # Two dominant beats started by a spike make the dominant QRS shape the paced one (native beats
    # of another shape would be classified "V"), even when the other beats' spikes are too small to see.
    ventricular = int(paced.ventricular[dominant].sum()) >= _MIN_PACED_BEATS
    atrial = 2 * int((paced.atrial | paced.ventricular)[dominant].sum()) > int(dominant.sum())
    if not (ventricular or atrial):
        return rhythm, {}, None
    evidence = Evidence(
        beat_indices=np.flatnonzero(paced.ventricular | paced.atrial).tolist(),
        times_s=[float(s / fs) for s in spikes],
        values={"ventricular_paced_count": float(paced.ventricular.sum()),
                "atrial_paced_count": float(paced.atrial.sum()), "dominant_count": float(dominant.sum())},
        threshold=f"a pacing spike 60 ms before to 50 ms after the QRS onset of >= {_MIN_PACED_BEATS} dominant beats "
                  f"(ventricular), or 60-350 ms before it in more than half of them (atrial); "
                  f"native rhythm analysis: {rhythm.label or 'undetermined'}")
    update: dict[str, object] = {"label": "paced_rhythm", "evidence": evidence}
    if not ventricular:
        return rhythm.model_copy(update=update), {}, None
    why = ("ventricular-paced rhythm: the QRS shape and the AV interval are set by the pacemaker, and the "
           "paced QRS lengthens the QT")
    update["av_block"], update["av_block_evidence"] = None, None
    started = dominant & paced.ventricular
    stimulus = [spikes[np.argmin(np.abs(spikes - on))] - r for r, on in zip(beats.r_samples[started], onset[started])]
    return (rhythm.model_copy(update=update), {f"statements.{code}": why for code in _PACED_CODES},
            float(np.median(stimulus)) / fs)


def _with_underlying(paced: Rhythm, native: str | None, f_waves: tuple[float | None, float | None],
                     config: MeasureConfig) -> Rhythm:
    """A ventricular-paced rhythm with the atrial rhythm beneath it (``underlying``): the native
    analysis's AF or flutter, else AF when V1's residual holds fibrillatory waves (``f_waves``:
    RMS in mV and 4-9 Hz share, see :func:`~tools.measure.atrial.fibrillatory_waves`; thresholds
    ``af_wave_min_mv``, ``af_wave_band_fraction``), else None (sinus P waves dissociated from the
    paced beats, or fine AF, are not told apart). The two values join the rhythm evidence."""
    rms, share = f_waves
    fibrillatory = rms is not None and share is not None and rms >= config.af_wave_min_mv \
        and share >= config.af_wave_band_fraction
    underlying = native if native in ("atrial_fibrillation", "atrial_flutter") else \
        "atrial_fibrillation" if fibrillatory else None
    values = {"v1_f_wave_rms_mv": rms, "v1_f_wave_4_9hz_fraction": share}
    evidence = paced.evidence.model_copy(update={
        "values": {**paced.evidence.values, **{k: round(v, 4) for k, v in values.items() if v is not None}},
        "threshold": f"{paced.evidence.threshold}; underlying AF: V1's QRS-T-cancelled residual >= "
                     f"{config.af_wave_min_mv:g} mV RMS (3-12 Hz) with >= {config.af_wave_band_fraction:g} of its "
                     f"1-12 Hz power in 4-9 Hz"})
    return paced.model_copy(update={"underlying": underlying, "evidence": evidence})


def _empty_delineation(n_leads: int, n_beats: int, why: str | None = None) -> Delineation:
    why = why or (f"{n_beats} beat(s) detected and no usable lead" if n_beats else "no beat detected")
    return Delineation(dict.fromkeys(FIDUCIALS), {k: np.full(n_leads, np.nan) for k in FIDUCIALS},
                       np.full(n_leads, np.nan), dict.fromkeys(FIDUCIALS, why))


def _flags(rows: list[LeadQuality], n_beats: int, spikes: np.ndarray, reversal: bool) -> list[str]:
    flags = []
    if all((row.reason or "").startswith("flat line") for row in rows):
        flags.append("flat_line")
    if any((row.reason or "").startswith("noise") for row in rows):
        flags.append("high_noise")
    if not any(row.usable for row in rows):
        flags.append("no_usable_lead")
    if n_beats < _MIN_BEATS:
        flags.append("few_beats")
    if spikes.size:
        flags.append("pacing")
    if reversal:
        flags.append("limb_lead_reversal")
    return flags
