"""Rule-based statements, each with the criterion it met and the evidence behind it.

The rules follow the AHA/ACC/HRS 2009 recommendations for the standardization and
interpretation of the ECG (conduction, hypertrophy, ST) in simplified, stated form; every
statement says which measured values crossed which threshold, so it can be checked.
"""

from __future__ import annotations

from tools.measure.config import MeasureConfig
from tools.measure.result import (
    Evidence,
    GlobalMeasurements,
    LeadMeasurement,
    Rhythm,
    Statement,
)
from tools.recording import LEADS
from tools.vocabulary import label

__all__ = ["make_statements", "AMPLITUDE_CODES", "abnormal_codes", "normal_ecg_gap"]

TERRITORIES: dict[str, tuple[str, ...]] = {
    "st_elevation_inferior": ("II", "III", "aVF"),
    "st_elevation_anterior": ("V1", "V2", "V3", "V4"),
    "st_elevation_lateral": ("I", "aVL", "V5", "V6"),
}
_LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
_PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")
_T_INVERSION_MV = -0.1
_T_INVERSION_EXEMPT = ("aVR", "III", "V1")
_IVCD_QRS_MS = 110.0
_EXCESSIVE_DISCORDANT_ST_MV = 0.5  # discordant ST elevation this high is one of Sgarbossa's ischaemia criteria
# Rules with a threshold in mV, and the normal ECG that needs them all absent: not applied when the
# record's amplitudes are not physical.
AMPLITUDE_CODES = ("lvh", "low_voltage", "st_elevation_inferior", "st_elevation_anterior", "st_elevation_lateral",
                   "st_depression", "t_inversion", "normal_ecg")


def _st(code: str, criteria: str, **evidence: object) -> Statement:
    return Statement(code=code, text=label(code).name, criteria=criteria, evidence=Evidence(**evidence))


def _val(rows: dict[str, LeadMeasurement], lead: str, field: str) -> float | None:
    row = rows.get(lead)
    return None if row is None or not row.usable else getattr(row, field)


def _conduction(g: GlobalMeasurements, rows: dict[str, LeadMeasurement], terminal_mv: dict[str, float],
                config: MeasureConfig) -> list[Statement]:
    qrs = g.qrs_ms
    if qrs is None:
        return []
    out = []
    # V1 is judged by its last QRS wave (the R' of an rsR', the S of an rS/QS): its terminal 40 ms
    # also holds the discordant ST shift of a bundle-branch block (an LBBB's rising ST read as RBBB).
    # I and V6 by their terminal 40 ms: RBBB's wide slurred S, LBBB's broad R.
    v1, v6, i = _val(rows, "V1", "terminal_wave_mv"), terminal_mv.get("V6"), terminal_mv.get("I")
    lateral = [x for x in (v6, i) if x is not None]
    if qrs >= config.complete_bbb_qrs_ms and v1 is not None and lateral:
        values = {"qrs_ms": qrs, "terminal_wave_v1_mv": v1, "terminal_lateral_mv": min(lateral)}
        if v1 > 0 and min(lateral) < 0:
            out.append(_st("rbbb", f"qrs_ms >= {config.complete_bbb_qrs_ms:g}, last QRS wave positive in V1 (R'), "
                                   "terminal 40 ms negative in I/V6",
                           leads=["V1", "V6", "I"], values=values, threshold=f"qrs_ms >= {config.complete_bbb_qrs_ms:g}"))
        elif v1 < 0 and min(lateral) > 0 and (_val(rows, "V6", "q_mv") or 0.0) > -0.05:
            out.append(_st("lbbb", f"qrs_ms >= {config.complete_bbb_qrs_ms:g}, last QRS wave negative in V1 (rS/QS), "
                                   "terminal 40 ms positive without Q in I/V6",
                           leads=["V1", "V6", "I"], values=values, threshold=f"qrs_ms >= {config.complete_bbb_qrs_ms:g}"))
    if not out and qrs >= _IVCD_QRS_MS:
        out.append(_st("ivcd", f"qrs_ms >= {_IVCD_QRS_MS:g} without a bundle-branch pattern",
                       values={"qrs_ms": qrs}, threshold=f"qrs_ms >= {_IVCD_QRS_MS:g}"))
    axis = g.axis_deg.qrs
    if axis is not None and -90 <= axis <= -45 and qrs < config.complete_bbb_qrs_ms:
        out.append(_st("lafb", "QRS axis between -45 and -90 deg with qrs_ms < 120",
                       leads=list(_LIMB), values={"axis_qrs_deg": axis, "qrs_ms": qrs}, threshold="axis <= -45 deg"))
    return out


def _axis(g: GlobalMeasurements) -> list[Statement]:
    axis = g.axis_deg.qrs
    if axis is None:
        return []
    if -30 <= axis <= 90:
        code, rule = "normal_axis", "-30 <= axis_qrs_deg <= 90"
    elif -90 <= axis < -30:
        code, rule = "left_axis_deviation", "-90 <= axis_qrs_deg < -30"
    elif 90 < axis <= 180:
        code, rule = "right_axis_deviation", "90 < axis_qrs_deg <= 180"
    else:
        code, rule = "extreme_axis_deviation", "-180 < axis_qrs_deg < -90"
    return [_st(code, rule, leads=list(_LIMB), values={"axis_qrs_deg": axis}, threshold=rule)]


def _voltage(rows: dict[str, LeadMeasurement], config: MeasureConfig) -> list[Statement]:
    out = []
    s_v1, r_v5, r_v6 = _val(rows, "V1", "s_mv"), _val(rows, "V5", "r_mv"), _val(rows, "V6", "r_mv")
    r_lat = max([r for r in (r_v5, r_v6) if r is not None], default=None)
    if s_v1 is not None and r_lat is not None and -s_v1 + r_lat >= config.sokolow_lyon_mv:
        out.append(_st("lvh", f"Sokolow-Lyon S(V1) + max R(V5, V6) >= {config.sokolow_lyon_mv:g} mV",
                       leads=["V1", "V5", "V6"], values={"sokolow_lyon_mv": -s_v1 + r_lat},
                       threshold=f">= {config.sokolow_lyon_mv:g} mV"))
    r_avl, s_v3 = _val(rows, "aVL", "r_mv"), _val(rows, "V3", "s_mv")
    if not out and r_avl is not None and s_v3 is not None and r_avl - s_v3 >= config.cornell_male_mv:
        out.append(_st("lvh", f"Cornell R(aVL) + S(V3) >= {config.cornell_male_mv:g} mV (men's threshold: sex unknown)",
                       leads=["aVL", "V3"], values={"cornell_mv": r_avl - s_v3},
                       threshold=f">= {config.cornell_male_mv:g} mV"))
    for group, limit in ((_LIMB, config.low_voltage_limb_mv), (_PRECORDIAL, config.low_voltage_precordial_mv)):
        amps = {ld: _val(rows, ld, "r_mv") - _val(rows, ld, "s_mv") - _val(rows, ld, "q_mv")
                for ld in group if _val(rows, ld, "r_mv") is not None}
        if len(amps) == len(group) and max(amps.values()) < limit:
            out.append(_st("low_voltage", f"QRS peak-to-peak < {limit:g} mV in every {'limb' if group is _LIMB else 'precordial'} lead",
                           leads=list(group), values={f"{ld}_qrs_pp_mv": v for ld, v in amps.items()},
                           threshold=f"< {limit:g} mV"))
            break
    return out


def _st_segment(rows: dict[str, LeadMeasurement], config: MeasureConfig, block: str | None,
                terminal_mv: dict[str, float]) -> list[Statement]:
    """ST elevation read at the J point, ST depression at the J point and still at J+60 ms (horizontal or
    downsloping), both in >= 2 leads, as the Fourth Universal Definition of MI (Thygesen et al. 2018) reads
    them. J+60 ms alone took the upstroke of a T wave following a short ST segment for ST elevation
    (docs/measurement.md, "ST level: the J point")."""
    out = []
    for code, territory in TERRITORIES.items():
        hits = {}
        for ld in territory:
            st = _val(rows, ld, "st_j_mv")
            limit = config.st_elevation_v2v3_mv if ld in ("V2", "V3") else config.st_elevation_mv
            if st is not None and st >= limit:
                hits[ld] = st
        if len(hits) >= 2:
            out.append(_repolarisation(code, "ST at the J point above threshold in >= 2 leads of the territory", hits,
                                       _keyed(hits, "st_j_mv"), f">= {config.st_elevation_mv:g} mV "
                                                                f"({config.st_elevation_v2v3_mv:g} in V2-V3)",
                                       block, terminal_mv))
    at_j = {ld: _val(rows, ld, "st_j_mv") for ld in rows if ld not in ("aVR", "V1")}
    at_j60 = {ld: _val(rows, ld, "st_j60_mv") for ld in at_j}
    depressed = {ld: at_j[ld] for ld in at_j if at_j[ld] is not None and at_j60[ld] is not None
                 and max(at_j[ld], at_j60[ld]) <= -config.st_depression_mv}
    if len(depressed) >= 2:
        out.append(_repolarisation("st_depression", "ST depressed at the J point and still at J+60 ms (horizontal or "
                                   "downsloping) in >= 2 leads (aVR and V1 excluded)", depressed,
                                   _keyed(depressed, "st_j_mv") | _keyed({ld: at_j60[ld] for ld in depressed}, "st_j60_mv"),
                                   f"<= -{config.st_depression_mv:g} mV at both", block, terminal_mv))
    inverted = {ld: _val(rows, ld, "t_mv") for ld in rows if ld not in _T_INVERSION_EXEMPT}
    inverted = {ld: v for ld, v in inverted.items() if v is not None and v <= _T_INVERSION_MV}
    if len(inverted) >= 2:
        out.append(_repolarisation("t_inversion", "T wave inverted in >= 2 leads (aVR, III, V1 excluded)", inverted,
                                   _keyed(inverted, "t_mv"), f"<= {_T_INVERSION_MV:g} mV", block, terminal_mv))
    return out


def _keyed(by_lead: dict[str, float], field: str) -> dict[str, float]:
    """Evidence values keyed ``{lead}_{field}``."""
    return {f"{ld}_{field}": v for ld, v in by_lead.items()}


def _repolarisation(code: str, criteria: str, changes_mv: dict[str, float], values: dict[str, float], threshold: str,
                    block: str | None, terminal_mv: dict[str, float]) -> Statement:
    """An ST or T statement over the leads of ``changes_mv`` (mV), showing ``values``. In a bundle-branch
    ``block``, when every lead deviates against its terminal QRS (``terminal_mv``) its criteria say
    so: a block repolarises discordantly, and its ischaemia criteria (Sgarbossa et al., NEJM 1996)
    read concordant ST shifts or a discordant ST elevation of at least ``_EXCESSIVE_DISCORDANT_ST_MV``."""
    if block is not None and all(
            (terminal := terminal_mv.get(ld)) is not None and v * terminal < 0 and v < _EXCESSIVE_DISCORDANT_ST_MV
            for ld, v in changes_mv.items()):
        criteria += (f"; opposite to the terminal QRS in each of these leads, as {label(block).name} repolarises: "
                     f"secondary to the block, not by itself ischaemia (Sgarbossa: concordant ST shifts, or "
                     f"discordant ST elevation >= {_EXCESSIVE_DISCORDANT_ST_MV:g} mV)")
    return _st(code, criteria, leads=list(changes_mv), values=values, threshold=threshold)


def _rhythm(g: GlobalMeasurements, rhythm: Rhythm, config: MeasureConfig, beat_times_s: list[float]) -> list[Statement]:
    out = []
    if rhythm.label is not None:
        out.append(_st(rhythm.label, rhythm.evidence.threshold or "rhythm analysis", **rhythm.evidence.model_dump()))
    block = rhythm.av_block_evidence
    if rhythm.av_block is not None and rhythm.av_block != rhythm.label and block is not None:
        out.append(_st(rhythm.av_block, block.threshold, **block.model_dump()))
    if rhythm.pac_count:
        rule = (f"an early beat of dominant QRS shape (RR < {config.premature_fraction:g} x the local median RR and "
                f"x the RR before it) with an ectopic P wave (correlation with the median P < "
                f"{config.pac_sinus_p_correlation:g}) or very early (RR < {config.pac_very_premature_fraction:g} x the "
                f"RR before it); in second-degree AV block, its P wave early against the P-P interval")
        out.append(_st("pac", rule, beat_indices=rhythm.pac_beats, times_s=[beat_times_s[i] for i in rhythm.pac_beats],
                       values={"count": float(rhythm.pac_count)}, threshold=">= 1 beat"))
    if rhythm.pvc_count:
        rule = (f"an early beat (RR < {config.premature_fraction:g} x the local median RR) whose QRS correlates below "
                f"{config.dominant_correlation:g} with the dominant QRS (in AF or flutter below "
                f"{config.pvc_af_max_correlation:g})")
        out.append(_st("pvc", rule, beat_indices=rhythm.pvc_beats, times_s=[beat_times_s[i] for i in rhythm.pvc_beats],
                       values={"count": float(rhythm.pvc_count)}, threshold=">= 1 beat"))
    qtc = getattr(g.qtc_ms, config.qtc_formula)
    if qtc is not None and rhythm.label != "atrial_fibrillation":
        for code, ok, rule in (("long_qt", qtc > config.long_qtc_ms, f"qtc_{config.qtc_formula}_ms > {config.long_qtc_ms:g}"),
                               ("short_qt", qtc < config.short_qtc_ms, f"qtc_{config.qtc_formula}_ms < {config.short_qtc_ms:g}")):
            if ok:
                out.append(_st(code, rule, values={f"qtc_{config.qtc_formula}_ms": qtc, "qt_ms": g.qt_ms}, threshold=rule))
    return out


def make_statements(g: GlobalMeasurements, rhythm: Rhythm, rows: list[LeadMeasurement],
                    terminal_mv: dict[str, float], config: MeasureConfig, beat_times_s: list[float], *,
                    amplitudes_physical: bool = True) -> list[Statement]:
    """All statements the measurements support, rhythm first.

    ``terminal_mv`` is the mean voltage of the last 40 ms of each lead's QRS (bundle-branch rules, with
    V1's last QRS wave from the lead matrix); ``beat_times_s`` the fiducial time of every beat (s),
    the times of the PAC and PVC statements' beats.
    A rule whose inputs are missing is silently not applied (its inputs are in not_measurable);
    with ``amplitudes_physical=False`` the mV-threshold rules (AMPLITUDE_CODES) are not applied.
    """
    by_lead = {row.lead: row for row in rows}
    out = _rhythm(g, rhythm, config, beat_times_s) + _conduction(g, by_lead, terminal_mv, config) + _axis(g)
    if amplitudes_physical:
        block = next((s.code for s in out if s.code in ("lbbb", "rbbb")), None)
        out += _voltage(by_lead, config) + _st_segment(by_lead, config, block, terminal_mv)
    if rhythm.label == "sinus_rhythm" and not abnormal_codes(out) and amplitudes_physical \
            and "normal_axis" in {s.code for s in out} and normal_ecg_gap(g, by_lead) is None:
        out.append(_st("normal_ecg", "sinus rhythm, normal axis, no abnormal statement, all 12 leads usable "
                                     "and PR, QRS and QT measured",
                       values={"heart_rate_bpm": g.heart_rate_bpm, "pr_ms": g.pr_ms, "qrs_ms": g.qrs_ms,
                               "qt_ms": g.qt_ms}, threshold="no rule fired"))
    return out


def abnormal_codes(statements: list[Statement]) -> set[str]:
    """The codes of ``statements`` that a normal ECG excludes (all but sinus rhythm and normal axis)."""
    return {s.code for s in statements} - {"sinus_rhythm", "normal_axis", "normal_ecg"}


def normal_ecg_gap(g: GlobalMeasurements, rows: dict[str, LeadMeasurement]) -> str | None:
    """Why these measurements cannot call an ECG normal (None: they can): every rule must have been
    applicable, so all 12 leads usable and PR, QRS, QT and the QRS axis measured."""
    missing = [lead for lead in LEADS if lead not in rows or not rows[lead].usable]
    if missing:
        return f"lead(s) {', '.join(missing)} missing or unusable: a normal ECG needs all 12"
    unmeasured = [name for name, value in (("PR", g.pr_ms), ("QRS", g.qrs_ms), ("QT", g.qt_ms),
                                           ("QRS axis", g.axis_deg.qrs)) if value is None]
    return f"{', '.join(unmeasured)} not measured: a normal ECG needs them" if unmeasured else None
