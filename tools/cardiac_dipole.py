"""Physics of the simulator: when the heart activates (rhythm, AV conduction, ectopy) and what each
activation looks like (a 3-D cardiac dipole built from smooth lobes), the dipole's projection onto
the 12 standard leads, atrial fibrillatory/flutter activity and electrode noise.

Coordinates are Frank's: x points to the patient's left, y to the feet (inferior), z to the back
(posterior). Dipole components are in "lead millivolts": the 8 independent leads are
``DOWER @ dipole`` and III, aVR, aVL, aVF are then derived from I and II (Einthoven, Goldberger),
so the limb-lead identities hold to float precision.

A *lobe* is a fixed 3-D vector times a scalar bump with compact support ``[start, start + dur]``;
a wave (P, QRS, T, ST shift) is a sum of lobes, so its onset and offset are exact numbers. Lobes are
rows of an ``(k, 8)`` float array with the columns below; times are in s relative to an anchor
(P onset for P lobes, QRS onset for ventricular lobes) until they are placed on the record.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps
from scipy import special

from tools.errors import InputError

__all__ = ["DOWER", "START", "DUR", "lobe", "render_dipole", "independent_leads", "standard_leads",
           "frontal_axis_deg", "rotate_frontal", "rotation_for_axis", "template_leads",
           "template_area", "peak_time_s", "t_peak_s", "p_wave_lobes", "qrs_lobes", "t_lobes", "st_lobes", "QRS_KINDS",
           "T_VECTORS", "ST_VECTORS", "fibrillation_dipole", "flutter_dipole", "electrode_noise",
           "START_S", "RhythmSpec", "BeatEvents", "beat_events"]

# Column layout of a lobe row.
START, DUR, RISE, FALL, PLATEAU, X, Y, Z = range(8)

# Dower, Machado & Osborne, "On deriving the electrocardiogram from vectorcardiographic leads",
# Clin. Cardiol. 3:87-95 (1980): rows I, II, V1..V6 as functions of the Frank (x, y, z) dipole.
# Cross-checked against BRAVEHEART's inverse Dower matrix (github.com/BIVectors/BRAVEHEART,
# dowermatrix.m; Edenbrandt & Pahlm 1988): pinv(DOWER) matches it to 0.005 (tests/test_simulate.py).
DOWER = np.array([
    [0.632, -0.235, 0.059],   # I
    [0.235, 1.066, -0.132],   # II
    [-0.515, 0.157, -0.917],  # V1
    [0.044, 0.164, -1.387],   # V2
    [0.882, 0.098, -1.277],   # V3
    [1.213, 0.127, -0.601],   # V4
    [1.125, 0.127, -0.086],   # V5
    [0.831, 0.076, 0.230],    # V6
])
DOWER.flags.writeable = False

_TEMPLATE_FS_HZ = 4000.0  # fine grid for template areas and peak times (0.25 ms)


def _unit(x: float, y: float, z: float) -> np.ndarray:
    vector = np.array([x, y, z], dtype=float)
    return vector / np.linalg.norm(vector)


def lobe(start_s: float, dur_s: float, vector_mv: np.ndarray, rise: float, fall: float,
         plateau: bool = False) -> np.ndarray:
    """One lobe row.

    For a bump (``plateau=False``) the shape is ``u**rise * (1-u)**fall`` scaled to a peak of 1,
    ``u`` in [0, 1] across the support: exponents near 1 give sharp corners at onset/offset.
    For a plateau, ``rise`` and ``fall`` are the fractions of the support taken by the raised-
    cosine ramps at either end (used for ST shifts).
    """
    return np.array([start_s, dur_s, rise, fall, float(plateau), *vector_mv], dtype=float)


def _shape(u: np.ndarray, rise: np.ndarray, fall: np.ndarray, plateau: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    mode = rise / (rise + fall)
    bump = u ** rise * (1.0 - u) ** fall / (mode ** rise * (1.0 - mode) ** fall)
    ramp_up = 0.5 - 0.5 * np.cos(np.pi * np.clip(u / rise, 0.0, 1.0))
    ramp_down = 0.5 - 0.5 * np.cos(np.pi * np.clip((1.0 - u) / fall, 0.0, 1.0))
    return np.where(plateau > 0.5, ramp_up * ramp_down, bump)


def render_dipole(lobes: np.ndarray, n_samples: int, fs_hz: float) -> np.ndarray:
    """Sum ``lobes`` (k, 8), times in s from the first sample, into an (n_samples, 3) dipole.

    Only the samples inside each lobe's support are evaluated (no loop over samples or lobes);
    parts of lobes before 0 or after the last sample are dropped.
    """
    out = np.zeros((n_samples, 3))
    if len(lobes) == 0:
        return out
    start, dur = lobes[:, START], lobes[:, DUR]
    first = np.maximum(np.ceil(start * fs_hz - 1e-9), 0).astype(np.int64)
    last = np.minimum(np.floor((start + dur) * fs_hz + 1e-9), n_samples - 1).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    owner = np.repeat(np.arange(len(lobes)), counts)
    sample = first[owner] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = lobes[owner]
    weight = _shape((sample / fs_hz - rows[:, START]) / rows[:, DUR], rows[:, RISE], rows[:, FALL],
                    rows[:, PLATEAU])
    for axis, column in enumerate((X, Y, Z)):
        out[:, axis] = np.bincount(sample, weights=weight * rows[:, column], minlength=n_samples)
    return out


def independent_leads(dipole: np.ndarray) -> np.ndarray:
    """(n, 3) dipole -> (n, 8) leads I, II, V1..V6 in mV."""
    return dipole @ DOWER.T


def standard_leads(eight: np.ndarray) -> np.ndarray:
    """(n, 8) leads I, II, V1..V6 -> (n, 12) leads I, II, III, aVR, aVL, aVF, V1..V6.

    III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2 (exact by construction).
    """
    lead_i, lead_ii = eight[:, 0], eight[:, 1]
    limb = np.stack([lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2,
                     lead_i - lead_ii / 2, lead_ii - lead_i / 2], axis=1)
    return np.concatenate([limb, eight[:, 2:]], axis=1)


def frontal_axis_deg(area_xyz: np.ndarray) -> float:
    """Hexaxial frontal axis (deg, -180..180] of a net-area dipole vector (3,).

    Uses net areas in I and aVF with the equilateral-triangle geometry
    (aVF = (√3/2)·M·sin θ): ``θ = atan2(2·aVF/√3, I)``.
    """
    lead_i, lead_ii = DOWER[0] @ area_xyz, DOWER[1] @ area_xyz
    return float(np.degrees(np.arctan2(2.0 * (lead_ii - lead_i / 2) / np.sqrt(3.0), lead_i)))


def rotate_frontal(lobes: np.ndarray, angle_deg: float) -> np.ndarray:
    """Lobes with their vectors rotated by ``angle_deg`` about z (positive: toward inferior)."""
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    out = lobes.copy()
    out[:, X] = c * lobes[:, X] - s * lobes[:, Y]
    out[:, Y] = s * lobes[:, X] + c * lobes[:, Y]
    return out


def _template_samples(lobes: np.ndarray) -> int:
    return int(np.ceil((lobes[:, START] + lobes[:, DUR]).max() * _TEMPLATE_FS_HZ)) + 2


def _axes_after_rotation(area: np.ndarray, angles: np.ndarray) -> np.ndarray:
    x = np.cos(angles) * area[0] - np.sin(angles) * area[1]
    y = np.sin(angles) * area[0] + np.cos(angles) * area[1]
    rotated = np.stack([x, y, np.full_like(x, area[2])], axis=1)
    lead_i, lead_ii = rotated @ DOWER[0], rotated @ DOWER[1]
    return np.arctan2(2.0 * (lead_ii - lead_i / 2) / np.sqrt(3.0), lead_i)


def rotation_for_axis(lobes: np.ndarray, target_deg: float) -> float:
    """The z-rotation (deg) that gives ``lobes`` a frontal axis of ``target_deg`` (±0.005 deg)."""
    area = template_area(lobes)
    best = 0.0
    for step, half_width in ((0.5, 180.0), (0.01, 0.5)):  # coarse search, then refine
        angles = np.radians(best + np.arange(-half_width, half_width, step))
        miss = np.angle(np.exp(1j * (_axes_after_rotation(area, angles) - np.radians(target_deg))))
        best = float(np.degrees(angles[np.argmin(np.abs(miss))]))
    return best


def template_leads(lobes: np.ndarray) -> np.ndarray:
    """(m, 12) standard leads of lobes rendered on a 4-kHz grid from t = 0 (for amplitudes)."""
    return standard_leads(independent_leads(render_dipole(lobes, _template_samples(lobes), _TEMPLATE_FS_HZ)))


def template_area(lobes: np.ndarray) -> np.ndarray:
    """Net area (3,) of the dipole of ``lobes`` in mV·s (closed form: Beta integrals, ramp halves)."""
    rise, fall = lobes[:, RISE], lobes[:, FALL]
    mode = rise / (rise + fall)
    bump = special.beta(rise + 1, fall + 1) / (mode ** rise * (1 - mode) ** fall)
    plateau = 1.0 - rise / 2 - fall / 2
    weight = lobes[:, DUR] * np.where(lobes[:, PLATEAU] > 0.5, plateau, bump)
    return weight @ lobes[:, X:]


def peak_time_s(lobes: np.ndarray) -> float:
    """Time (s, template coordinates) of the largest spatial magnitude |dipole| of ``lobes``."""
    dipole = render_dipole(lobes, _template_samples(lobes), _TEMPLATE_FS_HZ)
    return float(np.argmax(np.linalg.norm(dipole, axis=1)) / _TEMPLATE_FS_HZ)


# ---- wave templates ------------------------------------------------------------------------------
# P: right atrium first (inferior, anterior), left atrium later (left, posterior) -> biphasic V1.
_P_LOBES = ((0.00, 0.65, 0.13, _unit(0.15, 1.0, -0.45)),
            (0.35, 1.00, 0.10, _unit(0.90, 0.35, 0.55)))

# QRS lobes per conduction pattern: (start, end) as fractions of the QRS, amplitude (mV), direction,
# bump exponents. Normal: septum (right-anterior), LV free wall (left-inferior-posterior), base.
QRS_KINDS: dict[str, tuple[tuple[float, float, float, np.ndarray, float, float], ...]] = {
    "normal": ((0.00, 0.30, 0.25, _unit(-0.45, 0.25, -0.85), 1.2, 1.6),
               (0.10, 0.80, 1.60, _unit(0.80, 0.50, 0.35), 1.6, 1.6),
               (0.55, 1.00, 0.40, _unit(-0.35, -0.55, 0.75), 1.6, 1.2)),
    # RBBB: normal start, then slow right-anterior RV activation -> rSR' in V1, wide S in I/V6.
    "rbbb": ((0.00, 0.22, 0.25, _unit(-0.45, 0.25, -0.85), 1.2, 1.6),
             (0.07, 0.55, 1.40, _unit(0.80, 0.50, 0.35), 1.6, 1.6),
             (0.42, 1.00, 0.75, _unit(-0.65, 0.05, -0.75), 1.8, 1.2)),
    # LBBB: septum activated from the left (no septal q), two left-posterior fronts with a notch.
    "lbbb": ((0.00, 0.62, 1.60, _unit(0.75, 0.15, 0.65), 1.3, 1.5),
             (0.36, 1.00, 1.75, _unit(0.80, -0.10, 0.60), 1.6, 1.2),
             (0.35, 0.68, -0.60, _unit(0.80, 0.00, 0.60), 1.5, 1.5)),
    # LAFB: initial forces inferior-rightward (q in I/aVL, r in II/III/aVF); axis set by rotation.
    "lafb": ((0.00, 0.32, 0.30, _unit(-0.20, 0.80, -0.50), 1.2, 1.6),
             (0.12, 0.82, 1.60, _unit(0.80, 0.50, 0.35), 1.6, 1.6),
             (0.58, 1.00, 0.35, _unit(-0.35, -0.55, 0.75), 1.6, 1.2)),
    # Ectopic ventricular beat: broad, slurred, no septal or Purkinje sequence.
    "pvc": ((0.00, 0.65, 1.40, _unit(0.75, 0.15, 0.65), 1.3, 1.6),
            (0.30, 1.00, 1.20, _unit(0.80, -0.10, 0.60), 1.6, 1.2)),
}
QRS_KINDS["ivcd"] = QRS_KINDS["normal"]  # a uniformly slowed normal sequence

# Repolarization: normal T left-inferior-anterior; after BBB the T is opposite the late QRS forces.
T_VECTORS: dict[str, np.ndarray] = {
    "normal": 0.35 * _unit(0.80, 0.50, -0.30),
    "rbbb": 0.30 * _unit(0.70, 0.35, 0.60),
    "lbbb": 0.45 * _unit(-0.70, -0.15, -0.60),
}
# Injury currents point toward the territory (reciprocal change follows from the projection);
# diffuse subendocardial ischaemia points toward aVR.
ST_VECTORS: dict[str, np.ndarray] = {
    "inferior": _unit(-0.20, 1.00, 0.00),
    "anterior": _unit(0.30, -0.30, -1.00),
    "lateral": _unit(1.00, -0.50, 0.20),
    "depression": _unit(-1.00, -0.70, 0.00),
}
_T_RISE, _T_FALL = 2.6, 1.25  # slow rise from the J point, steeper descent: Tpeak-Tend ~ 1/3 JT


def p_wave_lobes(duration_s: float, scale: float) -> np.ndarray:
    """(2, 8) P lobes from P onset (0) to P offset (``duration_s``)."""
    return np.stack([lobe(a * duration_s, (b - a) * duration_s, scale * amp * vec, 1.5, 1.5)
                     for a, b, amp, vec in _P_LOBES])


def qrs_lobes(kind: str, duration_s: float, scale: float) -> np.ndarray:
    """(k, 8) QRS lobes of conduction pattern ``kind`` from QRS onset (0) to offset (``duration_s``)."""
    return np.stack([lobe(a * duration_s, (b - a) * duration_s, scale * amp * vec, rise, fall)
                     for a, b, amp, vec, rise, fall in QRS_KINDS[kind]])


def t_lobes(vector_mv: np.ndarray, qrs_s: float, qt_s: float) -> np.ndarray:
    """(1, 8) T lobe from the J point (``qrs_s``) to T offset (``qt_s``), times from QRS onset."""
    return lobe(qrs_s, qt_s - qrs_s, vector_mv, _T_RISE, _T_FALL)[None, :]


def t_peak_s(qrs_s: float, qt_s: float) -> float:
    """T peak (s from QRS onset) of :func:`t_lobes`."""
    return qrs_s + (qt_s - qrs_s) * _T_RISE / (_T_RISE + _T_FALL)


def st_lobes(vector_mv: np.ndarray, qrs_s: float, qt_s: float) -> np.ndarray:
    """(1, 8) ST shift: ramps up over the last 20 ms of the QRS and first 15 ms of ST, holds, and
    returns to zero with the T-wave descent (T peak to T offset), so it adds no new onset/offset."""
    start = max(qrs_s - 0.020, 0.0)
    length = qt_s - start
    rise = min(0.035 / length, 0.4)
    fall = min((qt_s - t_peak_s(qrs_s, qt_s)) / length, 0.55)
    return lobe(start, length, vector_mv, rise, fall, plateau=True)[None, :]


# ---- atrial activity without P waves -------------------------------------------------------------
def _smooth_noise(time_s: np.ndarray, rng: np.random.Generator, knot_s: float, columns: int = 0) -> np.ndarray:
    """Unit Gaussian values every ``knot_s`` s joined linearly: (n,), or (n, columns) if columns > 0."""
    knots = np.arange(time_s[0] - knot_s, time_s[-1] + 2 * knot_s, knot_s)
    values = rng.standard_normal((len(knots), max(columns, 1)))
    position = (time_s - knots[0]) / knot_s
    index = np.minimum(position.astype(np.int64), len(knots) - 2)
    weight = (position - index)[:, None]
    out = values[index] * (1 - weight) + values[index + 1] * weight
    return out if columns else out[:, 0]


def fibrillation_dipole(time_s: np.ndarray, amplitude_mv: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) fibrillatory f waves: 5-8 Hz, wandering rate and amplitude, largest in V1/inferior."""
    out = np.zeros((len(time_s), 3))
    dt = np.diff(time_s, prepend=time_s[0])
    for direction in (_unit(-0.2, 0.5, -0.8), _unit(0.3, 0.8, 0.1)):
        rate_hz = rng.uniform(5.0, 8.0) + 0.8 * _smooth_noise(time_s, rng, 0.4)
        phase = 2 * np.pi * np.cumsum(rate_hz * dt) + rng.uniform(0, 2 * np.pi)
        envelope = np.clip(1.0 + 0.35 * _smooth_noise(time_s, rng, 0.6), 0.2, None)
        wave = np.sin(phase) + 0.3 * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
        out += (amplitude_mv * envelope * wave)[:, None] * direction
    return out / np.sqrt(2.0)


def flutter_dipole(time_s: np.ndarray, rate_bpm: float, amplitude_mv: float, phase0: float) -> np.ndarray:
    """(n, 3) flutter F waves: a sawtooth at ``rate_bpm`` (slow fall over 70 % of the cycle, fast
    rise), negative in II/III/aVF and positive in V1. ``phase0`` in [0, 1) sets the cycle start;
    the F-wave nadir of cycle k is at ``(k + 0.7 - phase0) * 60 / rate_bpm`` s."""
    phase = np.mod(time_s * rate_bpm / 60.0 + phase0, 1.0)
    saw = np.interp(phase, [0.0, 0.7, 1.0], [1.0, -1.0, 1.0])
    fs_hz = 1.0 / (time_s[1] - time_s[0])
    width = max(round(0.012 * fs_hz), 1)  # soften the corners like a real atrial wavefront
    saw = np.convolve(np.pad(saw, (width, width), mode="edge"), np.ones(width) / width, mode="same")[width:-width]
    return amplitude_mv * saw[:, None] * _unit(0.0, 1.0, 0.5)


# ---- electrode noise -------------------------------------------------------------------------------
# Electrodes RA, LA, LL, V1..V6 -> leads I = LA - RA, II = LL - RA, Vk = Vk - (RA + LA + LL)/3.
_ELECTRODES_TO_LEADS = np.zeros((9, 8))
_ELECTRODES_TO_LEADS[[1, 0], 0] = (1.0, -1.0)
_ELECTRODES_TO_LEADS[[2, 0], 1] = (1.0, -1.0)
_ELECTRODES_TO_LEADS[3:, 2:] = np.eye(6)
_ELECTRODES_TO_LEADS[:3, 2:] = -1.0 / 3.0
_ELECTRODES_TO_LEADS.flags.writeable = False


def electrode_noise(n_samples: int, fs_hz: float, rng: np.random.Generator, *, baseline_wander_mv: float,
                    baseline_wander_hz: float, mains_mv: float, mains_hz: float, emg_mv: float,
                    electrode_motion_mv: float, electrode_motion_per_min: float) -> np.ndarray:
    """(n, 8) noise in leads I, II, V1..V6 from independent noise at the 9 electrodes.

    Noise is generated at RA, LA, LL and V1..V6 and turned into leads as differences (I = LA - RA,
    II = LL - RA, Vk = Vk - Wilson's terminal), so the limb-lead identities still hold. Amplitudes
    are scaled by 1/√2 per electrode so that a limb lead shows about the stated amplitude.
    """
    time_s = np.arange(n_samples) / fs_hz
    per_electrode = 1.0 / np.sqrt(2.0)
    noise = np.zeros((n_samples, 9))
    if baseline_wander_mv > 0:  # one breathing rhythm seen with its own size and phase at each electrode
        sizes = baseline_wander_mv * per_electrode * rng.uniform(0.5, 1.0, 9)
        noise += _sinusoid(time_s, baseline_wander_hz, sizes, rng)
        noise += 0.5 * baseline_wander_mv * per_electrode * _smooth_noise(time_s, rng, 4.0, 9)
    if mains_mv > 0:
        noise += _sinusoid(time_s, mains_hz, mains_mv * per_electrode * rng.uniform(0.3, 1.0, 9), rng)
    if emg_mv > 0:
        white = sps.sosfilt(_emg_band(fs_hz), rng.standard_normal((n_samples, 9)), axis=0)
        noise += emg_mv * per_electrode * white / max(float(white.std()), 1e-12)
    if electrode_motion_mv > 0:
        noise += _electrode_motion(time_s, rng, electrode_motion_mv * per_electrode, electrode_motion_per_min)
    return noise @ _ELECTRODES_TO_LEADS


def _sinusoid(time_s: np.ndarray, freq_hz: float, amplitude_mv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 9) sinusoids of one frequency, amplitudes (9,) and random phases: 2 sines, not 9."""
    phase = rng.uniform(0, 2 * np.pi, len(amplitude_mv))
    carrier = np.stack([np.sin(2 * np.pi * freq_hz * time_s), np.cos(2 * np.pi * freq_hz * time_s)], axis=1)
    return carrier @ np.stack([amplitude_mv * np.cos(phase), amplitude_mv * np.sin(phase)])


@functools.lru_cache(maxsize=16)
def _emg_band(fs_hz: float) -> np.ndarray:
    """Second-order 20-150 Hz band-pass (SOS) for muscle noise; designing it costs more than using it."""
    return sps.butter(2, [20.0, min(150.0, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")


def _electrode_motion(time_s: np.ndarray, rng: np.random.Generator, amplitude_mv: float,
                      per_min: float) -> np.ndarray:
    """Sudden shifts that decay (an electrode pulled or tapped), at random electrodes and times."""
    out = np.zeros((len(time_s), 9))
    count = rng.poisson(per_min * time_s[-1] / 60.0)
    for onset, electrode, size in zip(rng.uniform(0, time_s[-1], count), rng.integers(0, 9, count),
                                      amplitude_mv * rng.uniform(-1.0, 1.0, count), strict=True):
        lag = np.clip(time_s - onset, 0.0, None)
        out[:, electrode] += size * (1 - np.exp(-lag / 0.04)) * np.exp(-lag / rng.uniform(0.3, 1.5))
    return out


# ---- rhythm: when the atria and ventricles activate -----------------------------------------------
START_S = -3.0  # rhythms start before the record so its first beats are in steady state


@dataclass(frozen=True)
class RhythmSpec:
    """The numbers that fix beat timing (all resolved; times in s, rates in bpm)."""

    duration_s: float
    rhythm: str
    rate_bpm: float               # sinus rate, AF ventricular rate or escape rate
    atrial_rate_bpm: float | None  # flutter-wave rate or the P rate in AV block 3
    rr_s: float                   # nominal ventricular RR
    pr_s: float
    qt_s: float
    hrv_sd_s: float
    respiratory_depth: float      # sinus arrhythmia: RR modulation as a fraction of RR
    av_block: str                 # none | 1 | wenckebach | mobitz2
    av_block_cycle: int
    flutter_conduction: str       # 2:1 | 3:1 | 4:1 | variable
    pac_count: int
    pvc_count: int
    pvc_qt_s: float
    pvc_r_peak_s: float


@dataclass(frozen=True)
class BeatEvents:
    """Ventricular beats and blocked P waves, times in s from the first sample."""

    v_on: np.ndarray          # (v,) QRS onsets
    v_kind: np.ndarray        # (v,) 0 normal, 1 conducted PAC, 2 PVC
    v_p_on: np.ndarray        # (v,) onset of the P wave that conducted, NaN if none
    v_conducted: np.ndarray   # (v,) bool: an atrial impulse reached the ventricles
    blocked_p_on: np.ndarray  # (b,) onsets of P waves that did not conduct
    flutter_phase: float = 0.0  # phase0 of flutter_dipole for this rhythm


def beat_events(spec: RhythmSpec, rng: np.random.Generator) -> BeatEvents:
    """Beat timing for ``spec``: sinus (with PACs and AV conduction), AF, flutter, AV block 3, then PVCs.

    Raises
    ------
    InputError
        If the requested ectopic beats do not fit in the record.
    """
    make = {"atrial_fibrillation": _fibrillation_events, "atrial_flutter": _flutter_events,
            "av_block_3": _complete_block_events}.get(spec.rhythm, _sinus_events)
    events = make(spec, rng)
    return _insert_pvcs(events, spec, rng) if spec.pvc_count else events


def _n_beats(spec: RhythmSpec, rr_s: float) -> int:
    return int((spec.duration_s - START_S + 2.0) / (0.5 * rr_s)) + 4


def _sinus_rr(spec: RhythmSpec, rng: np.random.Generator, rate_bpm: float) -> np.ndarray:
    """RR (PP) intervals: respiratory modulation (sinus arrhythmia) plus random variation."""
    rr0 = 60.0 / rate_bpm
    n = _n_beats(spec, rr0)
    breath = 2 * np.pi * rng.uniform(0.2, 0.3) * rr0 * np.arange(n) + rng.uniform(0, 2 * np.pi)
    rr = rr0 * (1 + spec.respiratory_depth * np.sin(breath)) + spec.hrv_sd_s * rng.standard_normal(n)
    return np.clip(rr, 0.6 * rr0, 1.6 * rr0)


def _pick_spaced(candidates: np.ndarray, count: int, rng: np.random.Generator, field: str,
                 duration_s: float) -> np.ndarray:
    """``count`` of ``candidates`` (sorted beat indices) at least 3 beats apart, at random."""
    chosen: list[int] = []
    for index in rng.permutation(candidates):
        if len(chosen) == count:
            break
        if all(abs(index - other) >= 3 for other in chosen):
            chosen.append(int(index))
    if len(chosen) < count:
        raise InputError(f"{field}={count} does not fit in a {duration_s:g}-s record of this rhythm "
                         f"(room for {len(chosen)}); lower it or lengthen duration_s")
    return np.sort(np.array(chosen, dtype=int))


def _sinus_events(spec: RhythmSpec, rng: np.random.Generator) -> BeatEvents:
    """Sinus P waves with PACs and AV conduction (none, 1st degree, Wenckebach, Mobitz II)."""
    rr = _sinus_rr(spec, rng, spec.rate_bpm)
    nominal = START_S + np.cumsum(rr)
    is_pac = np.zeros(len(rr), dtype=bool)
    if spec.pac_count:
        room = np.flatnonzero((nominal > spec.rr_s + 0.3) & (nominal < spec.duration_s - 0.5))
        chosen = _pick_spaced(room, spec.pac_count, rng, "pac_count", spec.duration_s)
        is_pac[chosen] = True
        # premature, yet after the previous T wave (earlier PACs would not conduct); the sinus node is reset
        rr[chosen] = np.maximum(rr[chosen] * rng.uniform(0.6, 0.75, len(chosen)), spec.qt_s + 0.05)
    p_on = START_S + np.cumsum(rr)
    position = (np.arange(len(rr)) + rng.integers(spec.av_block_cycle)) % spec.av_block_cycle
    pr = np.full(len(rr), spec.pr_s)
    conducted = np.ones(len(rr), dtype=bool)
    if spec.av_block in ("wenckebach", "mobitz2"):
        conducted = position < spec.av_block_cycle - 1
    if spec.av_block == "wenckebach":
        step = float(np.clip(0.4 * spec.pr_s, 0.05, 0.1))  # largest PR increment on the 2nd beat
        pr = spec.pr_s + 2 * step * (1 - 0.5 ** position)
    return BeatEvents(v_on=p_on[conducted] + pr[conducted], v_kind=is_pac[conducted].astype(int),
                      v_p_on=p_on[conducted], v_conducted=np.ones(int(conducted.sum()), dtype=bool),
                      blocked_p_on=p_on[~conducted])


def _fibrillation_events(spec: RhythmSpec, rng: np.random.Generator) -> BeatEvents:
    """Irregularly irregular ventricular response; RR never shorter than the QT + 120 ms."""
    n = _n_beats(spec, spec.rr_s)
    cv = spec.hrv_sd_s / spec.rr_s
    sigma = np.sqrt(np.log1p(cv ** 2))
    rr = np.maximum(spec.rr_s * rng.lognormal(-sigma ** 2 / 2, sigma, n), spec.qt_s + 0.12)
    return BeatEvents(START_S + np.cumsum(rr), np.zeros(n, dtype=int), np.full(n, np.nan),
                      np.ones(n, dtype=bool), np.empty(0))


def _flutter_events(spec: RhythmSpec, rng: np.random.Generator) -> BeatEvents:
    """Every k-th flutter wave conducts (k fixed, or 2-4 at random for variable block)."""
    rate = float(spec.atrial_rate_bpm)  # type: ignore[arg-type]
    period = 60.0 / rate
    phase = float(rng.uniform())
    n = _n_beats(spec, period) * 2
    nadir = (np.arange(n) + 0.7 - phase) * period + START_S  # see flutter_dipole
    if spec.flutter_conduction == "variable":
        steps = rng.choice([2, 3, 4], size=n, p=[0.4, 0.3, 0.3])
    else:
        steps = np.full(n, int(spec.flutter_conduction[0]))
    picked = np.cumsum(steps)
    picked = picked[picked < n]
    v_on = nadir[picked] + rng.uniform(0.16, 0.24)  # fixed F-to-QRS conduction time per record
    return BeatEvents(v_on, np.zeros(len(v_on), dtype=int), np.full(len(v_on), np.nan),
                      np.ones(len(v_on), dtype=bool), np.empty(0), flutter_phase=(phase - START_S * rate / 60.0) % 1.0)


def _complete_block_events(spec: RhythmSpec, rng: np.random.Generator) -> BeatEvents:
    """Sinus P waves and a slower junctional escape rhythm, dissociated."""
    p_on = START_S + np.cumsum(_sinus_rr(spec, rng, float(spec.atrial_rate_bpm)))  # type: ignore[arg-type]
    n = _n_beats(spec, spec.rr_s)
    v_on = START_S + rng.uniform(0, spec.rr_s) + np.cumsum(spec.rr_s * (1 + 0.01 * rng.standard_normal(n)))
    return BeatEvents(v_on, np.zeros(n, dtype=int), np.full(n, np.nan), np.zeros(n, dtype=bool), p_on)


def _insert_pvcs(events: BeatEvents, spec: RhythmSpec, rng: np.random.Generator) -> BeatEvents:
    """Early wide beats; the next conducted beat falls in their refractory period and is blocked,
    which leaves a compensatory pause."""
    gaps = np.diff(events.v_on)
    coupling = np.clip(0.6 * gaps, spec.qt_s + 0.04, None)
    # between two normal beats, not inside a pause (a dropped beat's), early but after the T wave
    fits = (events.v_kind[:-1] == 0) & (events.v_kind[1:] == 0) & (gaps <= 1.25 * np.median(gaps)) \
        & (coupling <= 0.85 * gaps) & (events.v_on[:-1] > 0.1) \
        & (events.v_on[:-1] + coupling + spec.pvc_r_peak_s < spec.duration_s)
    chosen = _pick_spaced(np.flatnonzero(fits), spec.pvc_count, rng, "pvc_count", spec.duration_s)
    pvc_on = events.v_on[chosen] + coupling[chosen]
    refractory = np.zeros(len(events.v_on), dtype=bool)
    for onset in pvc_on:
        refractory |= (events.v_on > onset) & (events.v_on < onset + spec.pvc_qt_s + 0.1)
    keep = ~refractory
    order = np.argsort(np.concatenate([events.v_on[keep], pvc_on]), kind="stable")

    def merged(kept: np.ndarray, added: np.ndarray) -> np.ndarray:
        return np.concatenate([kept[keep], added])[order]

    blocked = events.v_p_on[refractory & ~np.isnan(events.v_p_on)]
    return BeatEvents(merged(events.v_on, pvc_on), merged(events.v_kind, np.full(len(pvc_on), 2)),
                      merged(events.v_p_on, np.full(len(pvc_on), np.nan)),
                      merged(events.v_conducted, np.zeros(len(pvc_on), dtype=bool)),
                      np.sort(np.concatenate([events.blocked_p_on, blocked])), events.flutter_phase)
