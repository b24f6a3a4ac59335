"""Seeded 12-lead ECG simulator with exact ground truth (``ecg-agent simulate``).

A time-varying cardiac dipole (P, QRS, T and ST lobes, see :mod:`tools.cardiac_dipole`) is placed
beat by beat on a rhythm (sinus variants, AF, flutter, AV blocks, PACs, PVCs), projected onto the
12 leads with Dower's matrix, and optionally mixed with electrode noise.

Ground truth
------------
Fiducials are **global** (AHA/ACC/HRS 2007): the moment the atrial or ventricular activity starts
or ends in the dipole itself, i.e. the earliest onset / latest offset over all leads. Every wave
is a sum of lobes with compact support, so these times are exact: ``p_on_s``/``p_off_s`` bound the
P lobes, ``qrs_on_s``/``qrs_off_s`` the QRS lobes (``qrs_off_s`` is the J point), ``t_off_s`` the
end of the T lobe; ``r_peak_s`` is the time of the largest spatial magnitude |dipole| within the
QRS, ``t_peak_s`` the peak of the T lobe. Times are in s from the first sample; a beat is listed
when its R peak (or, for a blocked P wave, its P onset) lies inside the record, so the waves of
the first and last listed beats may extend beyond it.

Global values: ``heart_rate_bpm`` is ventricular (mean RR of the listed beats), ``pr_ms`` the
median PR of conducted sinus beats, ``qrs_ms``/``qt_ms`` those of the dominant (non-ectopic)
beat, ``qtc_bazett_ms = qt / sqrt(RR in s)``; axes are hexaxial frontal axes of the net wave area
(``atan2(2·aVF/√3, I)``). A value is None when undefined (no P in AF, no PR in AV block 3).

Labels use :mod:`tools.vocabulary`. The rhythm label is the configured rhythm (its rate is
validated against it); axis, QT, PR and voltage labels are derived from the simulated values (QTc
by Bazett: long ≥ 470 ms, short ≤ 340 ms; PR > 200 ms: av_block_1; low voltage: every limb-lead
QRS < 0.5 mV peak to peak);
``normal_ecg`` means a sinus rhythm with nothing else abnormal.

Random streams are separate per concern (rhythm, morphology, atrial activity, noise), so turning
noise on does not move a single beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from tools import cardiac_dipole as dip
from tools.config import FrozenConfig
from tools.errors import InputError
from tools.recording import LEADS, Recording
from tools.vocabulary import LABELS, RHYTHMS, code15_classes, label, ptbxl_superclasses

__all__ = ["NoiseConfig", "SimulationConfig", "BeatTruth", "SimulationTruth", "Simulation",
           "simulate", "sample_config", "NOT_SIMULATED"]

SINUS = ("sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia", "sinus_arrhythmia")
# Vocabulary codes the signal model has no mechanism for (no pacemaker is modelled).
NOT_SIMULATED = frozenset({"paced_rhythm"})
# Allowed rate (bpm) per rhythm: the sinus rate for sinus rhythms, the ventricular rate in AF, the
# escape rate in AV block 3; flutter's ventricular rate follows from atrial rate and block.
_RATE_RANGE = {"sinus_rhythm": (60.0, 100.0), "sinus_bradycardia": (30.0, 59.0),
               "sinus_tachycardia": (101.0, 180.0), "sinus_arrhythmia": (60.0, 100.0),
               "atrial_fibrillation": (40.0, 180.0), "av_block_3": (20.0, 60.0)}
_DEFAULT_RATE = {"sinus_rhythm": 72.0, "sinus_bradycardia": 50.0, "sinus_tachycardia": 115.0,
                 "sinus_arrhythmia": 72.0, "atrial_fibrillation": 95.0, "av_block_3": 40.0}
_ATRIAL_RANGE = {"atrial_flutter": (240.0, 350.0), "av_block_3": (50.0, 150.0)}
_DEFAULT_ATRIAL = {"atrial_flutter": 300.0, "av_block_3": 80.0}
_TERRITORY_LEADS = {"inferior": ("II", "III", "aVF"), "anterior": ("V1", "V2", "V3", "V4"),
                    "lateral": ("I", "aVL", "V5", "V6")}
_FLUTTER_BLOCK = {"2:1": 2.0, "3:1": 3.0, "4:1": 4.0, "variable": 2.9}  # variable: mean of 2, 3, 4 at .4/.3/.3
_FLAGS = ("rbbb", "lbbb", "lafb", "ivcd", "lvh", "st_depression", "t_inversion")  # config flag = label code
_AV_BLOCKS = {"av_block_1": "1", "av_block_2_wenckebach": "wenckebach", "av_block_2_mobitz2": "mobitz2"}
_LIMB = slice(0, 6)
_LONG_QTC_MS, _SHORT_QTC_MS = 470.0, 340.0
_LOW_VOLTAGE_MV, _SOKOLOW_LYON_MV = 0.5, 3.5
_QT_REF_MS, _QT_EXPONENT = 410.0, 0.42  # QT = 410·RR^0.42: normal by Bazett from 30 to 180 bpm


def _reject(field: str, value: object, rule: str) -> ValidationError:
    """A ValidationError for ``field`` (FrozenConfig turns it into a one-line InputError)."""
    return ValidationError.from_exception_data("SimulationConfig", [InitErrorDetails(
        type=PydanticCustomError("simulation_config", rule), loc=(field,), input=value)])


class NoiseConfig(FrozenConfig):
    """Electrode noise, all off by default; amplitudes are about what a limb lead shows (mV)."""

    baseline_wander_mv: float = Field(0.0, ge=0.0, le=3.0)         # respiration and slow drift
    baseline_wander_hz: float = Field(0.3, gt=0.0, le=1.0)         # main wander frequency, Hz
    mains_mv: float = Field(0.0, ge=0.0, le=1.0)                   # power-line interference
    mains_hz: Literal[50, 60] = 50                                 # power-line frequency, Hz
    emg_mv: float = Field(0.0, ge=0.0, le=0.5)                     # muscle noise RMS, 20-150 Hz
    electrode_motion_mv: float = Field(0.0, ge=0.0, le=5.0)        # size of sudden decaying shifts
    electrode_motion_per_min: float = Field(6.0, ge=0.0, le=60.0)  # how often they happen


class SimulationConfig(FrozenConfig):
    """Everything that defines one simulated ECG; ``None`` means a physiological default.

    Fields are checked against each other on construction (rates against the rhythm, PR against
    the AV block, QRS width against the conduction flags...); a violation is an InputError that
    names the field, the value and what is allowed.
    """

    fs_hz: float = Field(ge=50.0, le=10_000.0)        # sampling rate, Hz: no default on purpose
    duration_s: float = Field(10.0, ge=2.0, le=600.0)
    seed: int = Field(0, ge=0)                        # seeds every random choice
    rhythm: str = "sinus_rhythm"                      # one of tools.vocabulary.RHYTHMS
    # Rates (bpm): the sinus rate; the mean ventricular rate in AF; the escape rate in AV block 3.
    # atrial_rate_bpm is the flutter-wave rate, or the P rate in AV block 3 (unused otherwise).
    heart_rate_bpm: float | None = None
    atrial_rate_bpm: float | None = None
    hrv_sd_ms: float | None = Field(None, ge=0.0, le=600.0)  # random RR SD; None: 2 % of RR, AF 20 %
    sinus_arrhythmia_fraction: float = Field(0.15, ge=0.08, le=0.3)  # respiratory RR swing, sinus_arrhythmia
    # AV conduction: av_block_cycle = P waves per group in 2nd-degree block (n:n-1 conduction).
    av_block: Literal["none", "1", "wenckebach", "mobitz2"] = "none"
    av_block_cycle: int = Field(4, ge=3, le=8)
    flutter_conduction: Literal["2:1", "3:1", "4:1", "variable"] = "2:1"
    pac_count: int = Field(0, ge=0, le=20)            # premature atrial complexes in the record
    pvc_count: int = Field(0, ge=0, le=20)            # premature ventricular complexes in the record
    # Intervals (ms); pr_ms is the first PR of a Wenckebach group; qt_ms None follows the rate.
    p_duration_ms: float | None = Field(None, ge=60.0, le=140.0)
    pr_ms: float | None = Field(None, ge=80.0, le=400.0)
    qrs_ms: float | None = Field(None, ge=60.0, le=200.0)
    qt_ms: float | None = Field(None, ge=200.0, le=700.0)
    # Frontal axes (deg) of the net P, QRS and T areas.
    p_axis_deg: float | None = Field(None, ge=-180.0, le=180.0)
    qrs_axis_deg: float | None = Field(None, ge=-180.0, le=180.0)
    t_axis_deg: float | None = Field(None, ge=-180.0, le=180.0)
    p_amplitude_scale: float = Field(1.0, ge=0.2, le=3.0)
    qrs_amplitude_scale: float = Field(1.0, ge=0.1, le=3.0)
    t_amplitude_scale: float = Field(1.0, ge=0.2, le=3.0)
    atrial_activity_mv: float | None = Field(None, ge=0.0, le=0.5)  # f/F waves; None: AF 0.06, flutter 0.12
    # Conduction and morphology.
    rbbb: bool = False
    lbbb: bool = False
    lafb: bool = False
    ivcd: bool = False
    lvh: bool = False                                 # Sokolow-Lyon 4.2 mV x qrs_amplitude_scale
    st_elevation: Literal["none", "inferior", "anterior", "lateral"] = "none"
    st_elevation_mv: float = Field(0.2, ge=0.1, le=1.0)    # in the territory's weakest lead
    st_depression: bool = False
    st_depression_mv: float = Field(0.15, ge=0.05, le=0.5)  # in the deepest lead
    t_inversion: bool = False
    long_qt: bool = False                             # default QT gives a Bazett QTc of 500 ms
    noise: NoiseConfig = NoiseConfig()

    @model_validator(mode="after")
    def _consistent(self) -> SimulationConfig:
        _resolve(self)
        return self


@dataclass(frozen=True)
class _Plan:
    """A config with every default resolved to a number (s, bpm, deg)."""

    rate_bpm: float          # sinus / AF-ventricular / escape rate
    atrial_rate_bpm: float | None
    rr_s: float              # nominal ventricular RR
    p_s: float
    pr_s: float
    qrs_s: float
    qt_s: float
    conduction: str          # key of cardiac_dipole.QRS_KINDS
    qrs_axis_deg: float | None
    hrv_sd_s: float
    atrial_activity_mv: float


def _check_range(field: str, value: float, low: float, high: float, why: str) -> None:
    if not low <= value <= high:
        raise _reject(field, value, f"must be within {low:g}–{high:g} {why}")


def _resolve(config: SimulationConfig) -> _Plan:
    """Check the config's fields against each other and fill in the defaults."""
    rhythm = config.rhythm
    if rhythm not in RHYTHMS:
        raise _reject("rhythm", rhythm, f"must be one of {', '.join(RHYTHMS)}")
    rate, atrial = _resolve_rates(config)
    _check_rhythm_options(config)
    conduction = _conduction(config)
    qrs_s = _resolve_qrs_s(config, conduction)
    pr_s, p_s = _resolve_pr_s(config)
    rr_s = 60.0 / rate
    if config.av_block in ("wenckebach", "mobitz2"):  # one P in av_block_cycle does not conduct
        rr_s *= config.av_block_cycle / (config.av_block_cycle - 1)
    qt_s = _resolve_qt_s(config, rr_s, qrs_s)
    default_hrv = (0.2 if rhythm == "atrial_fibrillation" else 0.02) * 60.0 / rate
    hrv = default_hrv if config.hrv_sd_ms is None else config.hrv_sd_ms / 1000
    if rhythm == "atrial_fibrillation" and hrv < 0.1 * rr_s:
        raise _reject("hrv_sd_ms", config.hrv_sd_ms,
                      f"must be ≥ {100 * rr_s:.0f} ms (RR CV ≥ 0.1) in atrial_fibrillation")
    activity = config.atrial_activity_mv
    if activity is None:
        activity = {"atrial_fibrillation": 0.06, "atrial_flutter": 0.12}.get(rhythm, 0.0)
    return _Plan(rate, atrial, rr_s, p_s, pr_s, qrs_s, qt_s, conduction,
                 _resolve_qrs_axis(config, conduction), hrv, activity)


def _resolve_qt_s(config: SimulationConfig, rr_s: float, qrs_s: float) -> float:
    if config.qt_ms is not None:
        qt_s = config.qt_ms / 1000
    elif config.long_qt:
        qt_s = 0.5 * np.sqrt(rr_s)  # QTc (Bazett) 500 ms
    else:
        qt_s = _QT_REF_MS / 1000 * rr_s ** _QT_EXPONENT
    if qt_s < qrs_s + 0.1:
        raise _reject("qt_ms", round(qt_s * 1000, 1), f"must exceed the QRS ({qrs_s * 1000:g} ms) by ≥ 100 ms")
    if config.long_qt and qt_s / np.sqrt(rr_s) < _LONG_QTC_MS / 1000:
        raise _reject("qt_ms", config.qt_ms, f"with long_qt the Bazett QTc must be ≥ {_LONG_QTC_MS:g} ms "
                                             f"at {60 / rr_s:.0f} bpm (ventricular)")
    return qt_s


def _resolve_qrs_axis(config: SimulationConfig, conduction: str) -> float | None:
    """The target QRS axis (deg); None keeps the pattern's own axis (LBBB)."""
    axis = config.qrs_axis_deg
    if config.lafb:
        if axis is not None and not -90 <= axis <= -45:
            raise _reject("qrs_axis_deg", axis, "must be within -90..-45 deg with lafb")
        return -60.0 if axis is None else axis
    if axis is None:
        return {"normal": 50.0, "ivcd": 40.0, "rbbb": 70.0, "lbbb": None}[conduction]
    return axis


def _resolve_rates(config: SimulationConfig) -> tuple[float, float | None]:
    rhythm = config.rhythm
    if rhythm in _ATRIAL_RANGE:
        low, high = _ATRIAL_RANGE[rhythm]
        atrial = _DEFAULT_ATRIAL[rhythm] if config.atrial_rate_bpm is None else config.atrial_rate_bpm
        _check_range("atrial_rate_bpm", atrial, low, high, f"bpm in {rhythm}")
    elif config.atrial_rate_bpm is not None:
        raise _reject("atrial_rate_bpm", config.atrial_rate_bpm,
                      "is used only in atrial_flutter and av_block_3; leave it unset")
    else:
        atrial = None
    if rhythm == "atrial_flutter":
        if config.heart_rate_bpm is not None:
            raise _reject("heart_rate_bpm", config.heart_rate_bpm,
                          "follows from atrial_rate_bpm and flutter_conduction in atrial_flutter; leave it unset")
        block = _FLUTTER_BLOCK[config.flutter_conduction]
        return atrial / block, atrial  # type: ignore[operator]
    rate = _DEFAULT_RATE[rhythm] if config.heart_rate_bpm is None else config.heart_rate_bpm
    _check_range("heart_rate_bpm", rate, *_RATE_RANGE[rhythm], f"bpm in {rhythm}")
    if rhythm == "av_block_3" and rate * 1.2 > atrial:  # type: ignore[operator]
        raise _reject("heart_rate_bpm", rate,
                      f"escape rate must be < atrial_rate_bpm/1.2 ({atrial:g}/1.2) in av_block_3")
    return rate, atrial


def _check_rhythm_options(config: SimulationConfig) -> None:
    sinus = config.rhythm in SINUS
    if config.av_block != "none" and not sinus:
        raise _reject("av_block", config.av_block, f"needs a sinus rhythm, not {config.rhythm}")
    if config.pac_count and not (sinus and config.av_block in ("none", "1")):
        raise _reject("pac_count", config.pac_count, "needs a sinus rhythm without 2nd-degree AV block")
    if config.st_elevation != "none" and config.st_depression:
        raise _reject("st_depression", True,
                      "cannot be combined with st_elevation (its reciprocal depression is simulated)")
    if config.t_inversion and config.t_axis_deg is not None:
        raise _reject("t_axis_deg", config.t_axis_deg, "fixes the T direction; leave it unset with t_inversion")
    if config.lvh and config.qrs_amplitude_scale < 0.9:
        raise _reject("qrs_amplitude_scale", config.qrs_amplitude_scale, "must be ≥ 0.9 with lvh")
    if config.rhythm not in ("atrial_fibrillation", "atrial_flutter") and config.atrial_activity_mv is not None:
        raise _reject("atrial_activity_mv", config.atrial_activity_mv,
                      "is used only in atrial_fibrillation and atrial_flutter")


def _conduction(config: SimulationConfig) -> str:
    pairs = [("rbbb", "lbbb"), ("lbbb", "lafb"), ("ivcd", "rbbb"), ("ivcd", "lbbb"), ("lvh", "lbbb")]
    for first, second in pairs:
        if getattr(config, first) and getattr(config, second):
            raise _reject(second, True, f"cannot be combined with {first}")
    if config.lbbb:
        return "lbbb"
    if config.rbbb:
        return "rbbb"
    if config.ivcd:
        return "ivcd"
    return "lafb" if config.lafb else "normal"


def _resolve_qrs_s(config: SimulationConfig, conduction: str) -> float:
    default, low, high, why = {"normal": (90.0, 60.0, 110.0, "ms without a conduction flag (ivcd is > 110 ms)"),
                               "lafb": (105.0, 60.0, 119.0, "ms with lafb alone"),
                               "ivcd": (125.0, 111.0, 200.0, "ms with ivcd"),
                               "rbbb": (140.0, 120.0, 200.0, "ms with rbbb"),
                               "lbbb": (150.0, 120.0, 200.0, "ms with lbbb")}[conduction]
    qrs = default if config.qrs_ms is None else config.qrs_ms
    _check_range("qrs_ms", qrs, low, high, why)
    return qrs / 1000


def _resolve_pr_s(config: SimulationConfig) -> tuple[float, float]:
    has_p = config.rhythm not in ("atrial_fibrillation", "atrial_flutter")
    conducted = config.rhythm in SINUS
    if config.p_duration_ms is not None and not has_p:
        raise _reject("p_duration_ms", config.p_duration_ms, f"has no meaning in {config.rhythm} (no P waves)")
    if config.pr_ms is not None and not conducted:
        raise _reject("pr_ms", config.pr_ms, f"has no meaning in {config.rhythm} (no conducted P waves)")
    p_ms = 100.0 if config.p_duration_ms is None else config.p_duration_ms
    default, low, high, why = {"none": (160.0, 120.0, 400.0, "ms"),
                               "1": (260.0, 201.0, 400.0, "ms in first-degree AV block"),
                               "wenckebach": (180.0, 120.0, 300.0, "ms for the first PR of a Wenckebach group"),
                               "mobitz2": (170.0, 120.0, 300.0, "ms in Mobitz II")}[config.av_block]
    pr = default if config.pr_ms is None else config.pr_ms
    if conducted:
        _check_range("pr_ms", pr, low, high, why)
        if pr < p_ms + 20:
            raise _reject("pr_ms", pr, f"must exceed p_duration_ms ({p_ms:g}) by ≥ 20 ms")
    return pr / 1000, p_ms / 1000


# ---- ground truth ---------------------------------------------------------------------------------
class BeatTruth(FrozenConfig):
    """One beat (or one blocked P wave: QRS fields None). Times in s from the first sample."""

    kind: Literal["normal", "pac", "pvc"]
    conducted: bool  # an atrial impulse reached the ventricles (False: blocked P, PVC, escape beat)
    p_on_s: float | None = None
    p_off_s: float | None = None
    qrs_on_s: float | None = None
    qrs_off_s: float | None = None
    r_peak_s: float | None = None
    t_peak_s: float | None = None
    t_off_s: float | None = None


class SimulationTruth(FrozenConfig):
    """Exact ground truth of a simulated record (see the module docstring for definitions)."""

    beats: tuple[BeatTruth, ...]
    heart_rate_bpm: float | None
    atrial_rate_bpm: float | None
    rr_ms: float | None
    p_duration_ms: float | None
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float
    qtc_bazett_ms: float | None
    p_axis_deg: float | None
    qrs_axis_deg: float
    t_axis_deg: float
    labels: tuple[str, ...]
    ptbxl: tuple[str, ...]
    code15: tuple[str, ...]


@dataclass(frozen=True)
class Simulation:
    """A simulated record: 12 leads (I..V6, mV, at ``config.fs_hz``), its truth and its config."""

    recording: Recording
    truth: SimulationTruth
    config: SimulationConfig


# ---- beat shapes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Shape:
    """Lobes of one beat type, times from its anchor (P onset or QRS onset)."""

    lobes: np.ndarray
    r_peak_s: float = 0.0
    t_peak_s: float = 0.0
    qrs_s: float = 0.0
    qt_s: float = 0.0


def _lead_vector(unit_xyz: np.ndarray) -> dict[str, float]:
    values = dip.standard_leads(dip.independent_leads(unit_xyz[None, :]))[0]
    return dict(zip(LEADS, values.tolist(), strict=True))


def _aim(lobes: np.ndarray, target_deg: float, first_free: int = 0) -> np.ndarray:
    """Rotate lobes ``first_free:`` about z until the whole wave has frontal axis ``target_deg``."""
    aim, out = target_deg, lobes
    for _ in range(3):  # a fixed initial lobe pulls the axis; re-aim until it no longer does
        out = lobes.copy()
        out[first_free:] = dip.rotate_frontal(lobes[first_free:], dip.rotation_for_axis(lobes[first_free:], aim))
        miss = (target_deg - dip.frontal_axis_deg(dip.template_area(out)) + 180) % 360 - 180
        if abs(miss) < 0.1:
            break
        aim += miss
    return out


def _sokolow_lyon_mv(qrs: np.ndarray) -> float:
    leads = dip.template_leads(qrs)
    return float(-leads[:, 6].min() + leads[:, 10:12].max())


def _ventricular_shape(config: SimulationConfig, plan: _Plan) -> tuple[_Shape, np.ndarray]:
    """The dominant beat's QRS+T(+ST) lobes and the QRS lobes alone."""
    qrs = dip.qrs_lobes(plan.conduction, plan.qrs_s, 1.0)
    natural = dip.frontal_axis_deg(dip.template_area(qrs))
    if plan.qrs_axis_deg is not None:
        qrs = _aim(qrs, plan.qrs_axis_deg, first_free=1 if plan.conduction == "lafb" else 0)
    rotation = dip.frontal_axis_deg(dip.template_area(qrs)) - natural
    gain = config.qrs_amplitude_scale
    if config.lvh:
        gain *= 4.2 / _sokolow_lyon_mv(qrs)
        if gain > 2.5 * config.qrs_amplitude_scale:  # the axis points away from V1 and V5/V6
            raise InputError(f"lvh cannot reach Sokolow-Lyon voltage with qrs_axis_deg={plan.qrs_axis_deg:g} "
                             "without an implausible QRS; use an axis within -60..75 deg")
    qrs[:, dip.X:] *= gain
    t_vector = dip.T_VECTORS.get(plan.conduction, dip.T_VECTORS["normal"]) * config.t_amplitude_scale
    t = dip.t_lobes(t_vector, plan.qrs_s, plan.qt_s)
    t = _aim(t, config.t_axis_deg) if config.t_axis_deg is not None else dip.rotate_frontal(t, rotation / 2)
    if config.t_inversion:
        t[:, dip.X:] *= -1
    parts = [qrs, t]
    if config.st_elevation != "none":
        unit = dip.ST_VECTORS[config.st_elevation]
        weakest = min(_lead_vector(unit)[name] for name in _TERRITORY_LEADS[config.st_elevation])
        parts.append(dip.st_lobes(unit * config.st_elevation_mv / weakest, plan.qrs_s, plan.qt_s))
    if config.st_depression:
        unit = dip.ST_VECTORS["depression"]
        deepest = -min(_lead_vector(unit).values())
        parts.append(dip.st_lobes(unit * config.st_depression_mv / deepest, plan.qrs_s, plan.qt_s))
    shape = _Shape(np.concatenate(parts), dip.peak_time_s(qrs), dip.t_peak_s(plan.qrs_s, plan.qt_s),
                   plan.qrs_s, plan.qt_s)
    return shape, qrs


def _pvc_shape(config: SimulationConfig, plan: _Plan, rng: np.random.Generator) -> _Shape:
    """A wide ectopic beat with a random axis and a discordant T wave."""
    qrs_s = min(max(0.14, plan.qrs_s + 0.04), 0.2)
    qt_s = plan.qt_s + qrs_s - plan.qrs_s
    qrs = _aim(dip.qrs_lobes("pvc", qrs_s, 1.1 * config.qrs_amplitude_scale), rng.uniform(-60.0, 120.0))
    area = dip.template_area(qrs)
    t = dip.t_lobes(-0.45 * config.t_amplitude_scale * area / np.linalg.norm(area), qrs_s, qt_s)
    return _Shape(np.concatenate([qrs, t]), dip.peak_time_s(qrs), dip.t_peak_s(qrs_s, qt_s), qrs_s, qt_s)


def _p_shapes(config: SimulationConfig, plan: _Plan, rng: np.random.Generator) -> tuple[_Shape, _Shape]:
    """Sinus P aimed at the P axis, and the ectopic P of PACs (axis turned 70-130 deg away)."""
    sinus = _aim(dip.p_wave_lobes(plan.p_s, config.p_amplitude_scale),
                 50.0 if config.p_axis_deg is None else config.p_axis_deg)
    ectopic = dip.rotate_frontal(sinus, rng.choice([-1.0, 1.0]) * rng.uniform(70.0, 130.0))
    return _Shape(sinus), _Shape(ectopic)


# ---- assembly ---------------------------------------------------------------------------------------
def _placed(shape: _Shape, onsets: np.ndarray) -> np.ndarray:
    """The shape's lobes copied to every onset (s), as one (len(onsets) * k, 8) array."""
    lobes = np.tile(shape.lobes, (len(onsets), 1))
    lobes[:, dip.START] += np.repeat(onsets, len(shape.lobes))
    return lobes


def simulate(config: SimulationConfig) -> Simulation:
    """Simulate one 12-lead ECG with exact ground truth.

    Parameters
    ----------
    config : SimulationConfig
        Rhythm, intervals, axes, morphology flags, noise, ``fs_hz`` and ``seed``.

    Returns
    -------
    Simulation
        ``recording`` (n_samples = round(duration_s·fs_hz), 12 leads I..V6, mV), ``truth`` and
        ``config``. Same config, same output, bit for bit.

    Raises
    ------
    InputError
        If ``config`` is not a SimulationConfig, or asks for something this rhythm cannot show
        (more ectopic beats than fit, a QT longer than the shortest RR, LVH voltage without lvh).

    Examples
    --------
    >>> sim = simulate(SimulationConfig(fs_hz=500, rhythm="atrial_fibrillation", seed=1))
    >>> sim.recording.signal_mv.shape, sim.truth.pr_ms, sim.truth.labels[0]
    ((5000, 12), None, 'atrial_fibrillation')
    """
    if not isinstance(config, SimulationConfig):
        raise InputError(f"config must be a SimulationConfig; got {type(config).__name__}")
    plan = _resolve(config)
    morph_rng = np.random.default_rng([config.seed, 1])
    sinus_p, pac_p = _p_shapes(config, plan, morph_rng)
    beat, qrs = _ventricular_shape(config, plan)
    pvc = _pvc_shape(config, plan, morph_rng)
    _check_voltage(config, qrs)
    events = _events(config, plan, pvc)
    _check_refractory(events, config, beat, pvc)
    has_p = ~np.isnan(events.v_p_on)
    lobes = np.concatenate([
        _placed(sinus_p, np.concatenate([events.v_p_on[has_p & (events.v_kind == 0)], events.blocked_p_on])),
        _placed(pac_p, events.v_p_on[has_p & (events.v_kind == 1)]),
        _placed(beat, events.v_on[events.v_kind != 2]),
        _placed(pvc, events.v_on[events.v_kind == 2])])
    n_samples = round(config.duration_s * config.fs_hz)
    dipole = dip.render_dipole(lobes, n_samples, config.fs_hz) + _atrial_activity(config, plan, events, n_samples)
    eight = dip.independent_leads(dipole)
    noise = config.noise
    if max(noise.baseline_wander_mv, noise.mains_mv, noise.emg_mv, noise.electrode_motion_mv) > 0:
        rng = np.random.default_rng([config.seed, 3])
        eight = eight + dip.electrode_noise(n_samples, config.fs_hz, rng, **noise.model_dump())
    recording = Recording(dip.standard_leads(eight), config.fs_hz, LEADS,
                          {"source": "ecg-agent simulate", "seed": config.seed, "rhythm": config.rhythm})
    truth = _truth(config, plan, events, sinus_p, beat, pvc, qrs)
    return Simulation(recording, truth, config)


def _events(config: SimulationConfig, plan: _Plan, pvc: _Shape) -> dip.BeatEvents:
    spec = dip.RhythmSpec(
        duration_s=config.duration_s, rhythm=config.rhythm, rate_bpm=plan.rate_bpm,
        atrial_rate_bpm=plan.atrial_rate_bpm, rr_s=plan.rr_s, pr_s=plan.pr_s, qt_s=plan.qt_s,
        hrv_sd_s=plan.hrv_sd_s,
        respiratory_depth=config.sinus_arrhythmia_fraction if config.rhythm == "sinus_arrhythmia" else 0.0,
        av_block=config.av_block, av_block_cycle=config.av_block_cycle,
        flutter_conduction=config.flutter_conduction, pac_count=config.pac_count, pvc_count=config.pvc_count,
        pvc_qt_s=pvc.qt_s, pvc_r_peak_s=pvc.r_peak_s)
    return dip.beat_events(spec, np.random.default_rng([config.seed, 0]))


def _atrial_activity(config: SimulationConfig, plan: _Plan, events: dip.BeatEvents,
                     n_samples: int) -> np.ndarray:
    time_s = np.arange(n_samples) / config.fs_hz
    if config.rhythm == "atrial_fibrillation" and plan.atrial_activity_mv > 0:
        return dip.fibrillation_dipole(time_s, plan.atrial_activity_mv, np.random.default_rng([config.seed, 2]))
    if config.rhythm == "atrial_flutter" and plan.atrial_activity_mv > 0:
        return dip.flutter_dipole(time_s, plan.atrial_rate_bpm, plan.atrial_activity_mv,  # type: ignore[arg-type]
                                  events.flutter_phase)
    return np.zeros((n_samples, 3))


def _check_voltage(config: SimulationConfig, qrs: np.ndarray) -> None:
    if config.lvh or config.lbbb or config.rbbb:
        return
    voltage = _sokolow_lyon_mv(qrs)
    if voltage >= _SOKOLOW_LYON_MV:
        raise InputError(f"qrs_amplitude_scale={config.qrs_amplitude_scale:g} gives a Sokolow-Lyon voltage of "
                         f"{voltage:.2f} mV (≥ {_SOKOLOW_LYON_MV:g} mV is LVH): lower it or set lvh=True")


def _check_refractory(events: dip.BeatEvents, config: SimulationConfig, beat: _Shape, pvc: _Shape) -> None:
    qt = np.where(events.v_kind == 2, pvc.qt_s, beat.qt_s)[:-1]
    gaps = np.diff(events.v_on)
    if np.any(gaps < qt + 0.02):
        raise InputError(f"qt_ms={beat.qt_s * 1000:.0f} does not fit this rhythm: the shortest RR is "
                         f"{gaps.min() * 1000:.0f} ms (need QT + 20 ms); shorten qt_ms, lower the rate "
                         "or hrv_sd_ms")


def _truth(config: SimulationConfig, plan: _Plan, events: dip.BeatEvents, sinus_p: _Shape, beat: _Shape,
           pvc: _Shape, qrs: np.ndarray) -> SimulationTruth:
    beats = _beat_truths(config, plan, events, beat, pvc)
    r_peaks = np.array([b.r_peak_s for b in beats if b.r_peak_s is not None])
    rr_ms = float(np.diff(r_peaks).mean() * 1000) if len(r_peaks) > 1 else None
    p_onsets = np.array([b.p_on_s for b in beats if b.p_on_s is not None])
    if config.rhythm == "atrial_flutter":
        atrial_rate = plan.atrial_rate_bpm
    else:
        atrial_rate = float(60.0 / np.diff(p_onsets).mean()) if len(p_onsets) > 1 else None
    prs = [b.qrs_on_s - b.p_on_s for b in beats
           if b.kind == "normal" and b.conducted and b.p_on_s is not None and b.qrs_on_s is not None]
    has_p = config.rhythm not in ("atrial_fibrillation", "atrial_flutter")
    t_lobe = beat.lobes[len(qrs):len(qrs) + 1]
    values = dict(
        heart_rate_bpm=60000.0 / rr_ms if rr_ms else None, atrial_rate_bpm=atrial_rate, rr_ms=rr_ms,
        p_duration_ms=plan.p_s * 1000 if has_p else None,
        pr_ms=float(np.median(prs) * 1000) if prs else None, qrs_ms=beat.qrs_s * 1000, qt_ms=beat.qt_s * 1000,
        qtc_bazett_ms=beat.qt_s * 1000 / np.sqrt(rr_ms / 1000) if rr_ms else None,
        p_axis_deg=dip.frontal_axis_deg(dip.template_area(sinus_p.lobes)) if has_p else None,
        qrs_axis_deg=dip.frontal_axis_deg(dip.template_area(qrs)),
        t_axis_deg=dip.frontal_axis_deg(dip.template_area(t_lobe)))
    codes = _labels(config, beats, values, qrs)
    return SimulationTruth(beats=tuple(beats), **values, labels=codes, ptbxl=tuple(sorted(ptbxl_superclasses(codes))),
                           code15=tuple(sorted(code15_classes(codes))))


def _beat_truths(config: SimulationConfig, plan: _Plan, events: dip.BeatEvents, beat: _Shape,
                 pvc: _Shape) -> list[BeatTruth]:
    """Beats whose R peak, and blocked P waves whose onset, lie in [0, duration_s)."""
    rows: list[tuple[float, BeatTruth]] = []
    for on, kind, p_on, conducted in zip(events.v_on, events.v_kind, events.v_p_on, events.v_conducted,
                                         strict=True):
        shape = pvc if kind == 2 else beat
        if not 0.0 <= on + shape.r_peak_s < config.duration_s:
            continue
        has_p = not np.isnan(p_on)
        rows.append((p_on if has_p else on, BeatTruth(
            kind=("normal", "pac", "pvc")[kind], conducted=bool(conducted),
            p_on_s=_s(p_on) if has_p else None, p_off_s=_s(p_on + plan.p_s) if has_p else None,
            qrs_on_s=_s(on), qrs_off_s=_s(on + shape.qrs_s), r_peak_s=_s(on + shape.r_peak_s),
            t_peak_s=_s(on + shape.t_peak_s), t_off_s=_s(on + shape.qt_s))))
    blocked = events.blocked_p_on
    for p_on in blocked[(blocked >= 0) & (blocked < config.duration_s)]:
        rows.append((p_on, BeatTruth(kind="normal", conducted=False, p_on_s=_s(p_on), p_off_s=_s(p_on + plan.p_s))))
    return [entry for _, entry in sorted(rows, key=lambda row: row[0])]


def _s(time_s: float) -> float:
    return round(float(time_s), 6)  # µs: far below any sampling period, keeps the JSON short


def _labels(config: SimulationConfig, beats: list[BeatTruth], values: dict[str, Any],
            qrs: np.ndarray) -> tuple[str, ...]:
    """Vocabulary codes, in vocabulary order (see the module docstring for what is derived)."""
    codes = {config.rhythm}
    kinds = {entry.kind for entry in beats}
    codes |= {kind for kind in ("pac", "pvc") if kind in kinds}
    if config.av_block != "none":
        codes.add({value: code for code, value in _AV_BLOCKS.items()}[config.av_block])
    elif values["pr_ms"] is not None and values["pr_ms"] > 200.0 + 1e-6:  # µs rounding of the fiducials
        codes.add("av_block_1")
    codes |= {flag for flag in _FLAGS if getattr(config, flag)}
    if config.st_elevation != "none":
        codes.add(f"st_elevation_{config.st_elevation}")
    codes.add(_axis_label(values["qrs_axis_deg"]))
    if _limb_qrs_mv(qrs) < _LOW_VOLTAGE_MV:
        codes.add("low_voltage")
    qtc = values["qtc_bazett_ms"]
    if qtc is not None and qtc >= _LONG_QTC_MS:
        codes.add("long_qt")
    if qtc is not None and qtc <= _SHORT_QTC_MS:
        codes.add("short_qt")
    if config.rhythm in SINUS and codes <= {config.rhythm, "normal_axis"}:
        codes.add("normal_ecg")
    return tuple(code for code in LABELS if code in codes)


def _limb_qrs_mv(qrs: np.ndarray) -> float:
    """Largest QRS peak-to-peak amplitude (mV) over the six limb leads."""
    return float(np.ptp(dip.template_leads(qrs)[:, _LIMB], axis=0).max())


def _axis_label(axis_deg: float) -> str:
    if -30.0 <= axis_deg <= 90.0:
        return "normal_axis"
    if -90.0 <= axis_deg < -30.0:
        return "left_axis_deviation"
    return "right_axis_deviation" if 90.0 < axis_deg <= 180.0 else "extreme_axis_deviation"


# ---- random configurations ---------------------------------------------------------------------------
_AXIS_RANGES = {"normal_axis": (-20.0, 85.0), "left_axis_deviation": (-80.0, -35.0),
                "right_axis_deviation": (100.0, 160.0), "extreme_axis_deviation": (-170.0, -100.0)}


def sample_config(seed: int, *, fs_hz: float, labels: Sequence[str] = (), duration_s: float = 10.0,
                  noisy: bool = False) -> SimulationConfig:
    """A varied, physiologically plausible config whose ECG shows ``labels`` (and no other finding).

    Rate, axes, durations and amplitudes are drawn at random within normal limits unless a label
    asks otherwise; the rhythm is sinus_rhythm unless a rhythm label is given. The simulated truth
    carries the requested codes, the codes they imply (lafb: left_axis_deviation) and the derived
    ``normal_axis``/``normal_ecg`` where they apply. Every single code, and all but about 1 in 2,000
    random sets of 2-4 compatible codes, comes out exactly so (the exceptions are QTc labels near
    their threshold in short records with dropped or ectopic beats).

    Parameters
    ----------
    seed : int
        Seeds both the draw and the simulation (``config.seed``).
    fs_hz : float
        Sampling rate in Hz.
    labels : sequence of str
        Codes from :mod:`tools.vocabulary` to show.
    duration_s : float
        Record length in s.
    noisy : bool
        Also draw baseline wander, EMG and (sometimes) mains and electrode-motion noise.

    Raises
    ------
    InputError
        On an unknown code or codes that cannot be shown together (two rhythms, two axes,
        normal_ecg with a finding, LBBB with RBBB...).
    """
    codes = _requested(labels)
    rng = np.random.default_rng([seed, 7])
    rhythm = next((code for code in codes if code in RHYTHMS), "sinus_rhythm")
    fields: dict[str, Any] = {"fs_hz": fs_hz, "duration_s": duration_s, "seed": seed, "rhythm": rhythm}
    fields.update(_sample_rhythm(rhythm, codes, rng, duration_s))
    fields.update(_sample_morphology(codes, rng))
    fields.update(_sample_qt(codes, rng, _nominal_rr_s(fields), _shortest_rr_s(fields), fields["qrs_ms"]))
    if "low_voltage" in codes:  # scale the QRS so that the largest limb lead stays below 0.5 mV
        probe = SimulationConfig(**{**fields, "qrs_amplitude_scale": 1.0})
        qrs = _ventricular_shape(probe, _resolve(probe))[1]
        fields["qrs_amplitude_scale"] = rng.uniform(0.6, 0.9) * _LOW_VOLTAGE_MV / _limb_qrs_mv(qrs)
    if noisy:
        fields["noise"] = _sample_noise(rng)
    return SimulationConfig(**fields)


def _requested(labels: Sequence[str]) -> set[str]:
    if isinstance(labels, str):
        labels = (labels,)
    codes = {label(code).code for code in labels}
    if codes & NOT_SIMULATED:
        raise InputError(f"labels={sorted(codes)}: the simulator cannot show {', '.join(sorted(codes & NOT_SIMULATED))}")
    for group, what in ((set(RHYTHMS), "rhythm"), (set(_AXIS_RANGES), "axis"), (set(_AV_BLOCKS), "AV block"),
                        ({"long_qt", "short_qt"}, "QT"), ({"lvh", "low_voltage"}, "voltage")):
        if len(codes & group) > 1:
            both = ", ".join(sorted(codes & group))
            raise InputError(f"labels={sorted(codes)} ask for more than one {what} ({both})")
    if "normal_ecg" in codes and codes - set(SINUS) - {"normal_axis", "normal_ecg"}:
        raise InputError(f"labels={sorted(codes)}: normal_ecg cannot be combined with a finding")
    if "lvh" in codes and (codes & {"right_axis_deviation", "extreme_axis_deviation"}
                           or {"rbbb", "lafb"} <= codes or {"rbbb", "left_axis_deviation"} <= codes):
        raise InputError(f"labels={sorted(codes)}: lvh voltage is simulated with a normal axis, or a left "
                         "axis without rbbb")
    if "lafb" in codes and codes & set(_AXIS_RANGES) - {"left_axis_deviation"}:
        raise InputError(f"labels={sorted(codes)}: lafb has a left axis deviation")
    territories = {code for code in codes if code.startswith("st_elevation_")}
    if len(territories) > 1 or (territories and "st_depression" in codes):
        raise InputError(f"labels={sorted(codes)}: one ST-elevation territory per ECG, without st_depression "
                         "(the reciprocal depression of an elevation is simulated)")
    if "pac" in codes and codes & {"av_block_2_wenckebach", "av_block_2_mobitz2"}:
        raise InputError(f"labels={sorted(codes)}: pac cannot be combined with 2nd-degree AV block")
    rhythm = next((code for code in codes if code in RHYTHMS), "sinus_rhythm")
    needs_sinus = codes & (set(_AV_BLOCKS) | {"pac"})
    if needs_sinus and rhythm not in SINUS:
        raise InputError(f"labels={sorted(codes)}: {', '.join(sorted(needs_sinus))} need a sinus rhythm, "
                         f"not {rhythm}")
    return codes


def _sample_rhythm(rhythm: str, codes: set[str], rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # room for one ectopic beat only
    slow = rhythm in ("av_block_3", "sinus_bradycardia") or duration_s < 10 or bool(codes & set(_AV_BLOCKS))
    if "pac" in codes:
        out["pac_count"] = 1 if slow else int(rng.integers(1, 3))
    if "pvc" in codes:
        out["pvc_count"] = 1 if slow else int(rng.integers(1, 3))
    # A QT outside the normal range does not fit fast rates: a long one overlaps the next beat, a short
    # one by Bazett would be under 200 ms.
    odd_qt = bool(codes & {"long_qt", "short_qt"})
    rate_range = {"sinus_rhythm": (62, 95), "sinus_bradycardia": (40, 56),
                  "sinus_tachycardia": (102, 112) if odd_qt else (105, 150), "sinus_arrhythmia": (62, 90),
                  "atrial_fibrillation": (55, 80) if odd_qt else (60, 140), "av_block_3": (30, 45)}
    if rhythm == "atrial_flutter":
        out["atrial_rate_bpm"] = rng.uniform(260, 330)
        # no 2:1 conduction with an odd QT, nor with PVCs (no room for an early beat after the T wave)
        blocks = ["3:1", "4:1"] if odd_qt or "pvc" in codes else ["2:1", "3:1", "4:1", "variable"]
        out["flutter_conduction"] = str(rng.choice(blocks))
        out["atrial_activity_mv"] = rng.uniform(0.08, 0.18)
        return out
    out["heart_rate_bpm"] = rng.uniform(*rate_range[rhythm])
    rr_ms = 60000.0 / out["heart_rate_bpm"]
    if rhythm == "atrial_fibrillation":
        out["hrv_sd_ms"] = rng.uniform(0.15, 0.3) * rr_ms
        # f waves 0.05-0.18 mV peak to peak in the lead that shows them best, as LUDB's eight
        # unpaced AF records (0.08-0.19 mV, 3-30 Hz, TQ segments); 0.12 gave 0.31 mV.
        out["atrial_activity_mv"] = rng.uniform(0.02, 0.08)
    else:
        out["hrv_sd_ms"] = rng.uniform(0.005, 0.03) * rr_ms
    if rhythm == "sinus_arrhythmia":
        out["sinus_arrhythmia_fraction"] = rng.uniform(0.1, 0.15 if odd_qt else 0.25)
    if rhythm == "av_block_3":
        out["atrial_rate_bpm"] = rng.uniform(65, 100)
    if rhythm in SINUS:
        block = next((_AV_BLOCKS[code] for code in codes if code in _AV_BLOCKS), "none")
        out["av_block"] = block
        out["pr_ms"] = {"none": rng.uniform(125, 195), "1": rng.uniform(220, 340),
                        "wenckebach": rng.uniform(140, 200), "mobitz2": rng.uniform(130, 190)}[block]
        out["av_block_cycle"] = int(rng.integers(3, 6))
    if rhythm not in ("atrial_fibrillation", "atrial_flutter"):
        out["p_duration_ms"] = min(rng.uniform(80, 115), out.get("pr_ms", 400) - 25)
    return out


def _sample_morphology(codes: set[str], rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {flag: True for flag in _FLAGS if flag in codes}
    widest = next((flag for flag in ("lbbb", "rbbb", "ivcd", "lafb") if flag in codes), "normal")
    low, high = {"lbbb": (130, 170), "rbbb": (125, 160), "ivcd": (114, 140), "lafb": (90, 115),
                 "normal": (78, 105)}[widest]
    out["qrs_ms"] = rng.uniform(low, low + 10 if "short_qt" in codes else high)  # leave room for a short QT
    axis = next((code for code in codes if code in _AXIS_RANGES), "normal_axis")
    low, high = (-80.0, -48.0) if "lafb" in codes else _AXIS_RANGES[axis]
    if "lvh" in codes:  # LVH voltage needs the QRS to point toward V5/V6 and away from V1
        low, high = max(low, -60.0), min(high, 75.0)
    out["qrs_axis_deg"] = rng.uniform(low, high)
    out["p_axis_deg"] = rng.uniform(25, 70)
    out["qrs_amplitude_scale"] = rng.uniform(0.95, 1.25) if "lvh" in codes else \
        1.0 if "low_voltage" in codes else rng.uniform(0.75, 1.15)
    out["p_amplitude_scale"] = rng.uniform(0.7, 1.3)
    out["t_amplitude_scale"] = rng.uniform(0.7, 1.4)
    territory = next((code.rsplit("_", 1)[1] for code in codes if code.startswith("st_elevation_")), None)
    if territory:
        out["st_elevation"] = territory
        out["st_elevation_mv"] = rng.uniform(0.15, 0.4)
    if "st_depression" in codes:
        out["st_depression_mv"] = rng.uniform(0.1, 0.3)
    return out


def _nominal_rr_s(fields: dict[str, Any]) -> float:
    if fields["rhythm"] == "atrial_flutter":
        return 60.0 * _FLUTTER_BLOCK[fields["flutter_conduction"]] / fields["atrial_rate_bpm"]
    cycle = fields.get("av_block_cycle", 4)
    dropped = cycle / (cycle - 1) if fields.get("av_block") in ("wenckebach", "mobitz2") else 1.0
    return 60.0 / fields["heart_rate_bpm"] * dropped


def _shortest_rr_s(fields: dict[str, Any]) -> float:
    if fields["rhythm"] == "atrial_flutter":
        block = 2 if fields["flutter_conduction"] == "variable" else int(fields["flutter_conduction"][0])
        return 60.0 * block / fields["atrial_rate_bpm"]
    if fields["rhythm"] == "atrial_fibrillation":
        return np.inf  # AF's RR is kept above the QT by the simulator itself
    depth = fields.get("sinus_arrhythmia_fraction", 0.0) if fields["rhythm"] == "sinus_arrhythmia" else 0.0
    return 60.0 / fields["heart_rate_bpm"] * (1 - depth) - 3 * fields["hrv_sd_ms"] / 1000


def _sample_qt(codes: set[str], rng: np.random.Generator, rr_s: float, shortest_rr_s: float,
               qrs_ms: float) -> dict[str, Any]:
    if "long_qt" in codes:  # QTc by Bazett 500-560 ms, within the QT that the shortest RR allows
        qt_ms = min(rng.uniform(500, 560) * np.sqrt(rr_s), 690.0, (shortest_rr_s - 0.05) * 1000)
        return {"long_qt": True, "qt_ms": qt_ms}
    if "short_qt" in codes:  # QTc 270-300 ms; every QT keeps a JT of at least 105 ms
        return {"qt_ms": max(rng.uniform(270, 300) * np.sqrt(rr_s), qrs_ms + 105.0)}
    return {"qt_ms": max(rng.uniform(385, 425) * rr_s ** _QT_EXPONENT, qrs_ms + 105.0)}


def _sample_noise(rng: np.random.Generator) -> NoiseConfig:
    return NoiseConfig(baseline_wander_mv=rng.uniform(0.05, 0.4), baseline_wander_hz=rng.uniform(0.1, 0.5),
                       mains_mv=rng.uniform(0.01, 0.08) if rng.uniform() < 0.5 else 0.0,
                       mains_hz=int(rng.choice([50, 60])), emg_mv=rng.uniform(0.005, 0.04),
                       electrode_motion_mv=rng.uniform(0.2, 1.0) if rng.uniform() < 0.3 else 0.0)
