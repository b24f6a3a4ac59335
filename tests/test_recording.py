"""The Recording type: validation, lead aliases, slicing, immutability."""

import numpy as np
import pytest

from tools.errors import InputError
from tools.recording import LEADS, Recording, canonical_lead


def _rec(n=1000, fs=500.0, leads=LEADS):
    rng = np.random.default_rng(0)
    return Recording(rng.normal(0, 0.5, (n, len(leads))), fs, leads)


@pytest.mark.parametrize("alias, name", [("avr", "aVR"), ("AVL", "aVL"), ("i", "I"), ("MLII", "II"),
                                         ("v6", "V6"), (" II ", "II"), ("DIII", "III"), ("vx", "X")])
def test_aliases_map_to_standard_names(alias, name):
    assert canonical_lead(alias) == name


def test_unknown_lead_is_rejected_with_its_name():
    with pytest.raises(InputError, match="'V7'"):
        canonical_lead("V7")


def test_lead_and_select_return_the_right_columns():
    rec = _rec()
    assert np.array_equal(rec.lead("avf"), rec.signal_mv[:, 5])
    sub = rec.select(["V1", "I"])
    assert sub.leads == ("V1", "I")
    assert np.array_equal(sub.signal_mv[:, 1], rec.signal_mv[:, 0])
    assert "avr" in rec and "V7" not in rec and "X" not in rec


def test_window_is_half_open_in_seconds():
    rec = _rec(n=1000, fs=500.0)
    win = rec.window(0.5, 1.0)
    assert win.n_samples == 250
    assert np.array_equal(win.signal_mv, rec.signal_mv[250:500])
    with pytest.raises(InputError, match="empty"):
        rec.window(3.0, 4.0)


def test_recording_is_immutable_and_owns_its_data():
    data = np.zeros((100, 1))
    rec = Recording(data, 250, ["II"], {"a": 1})
    data[0, 0] = 9.0
    assert rec.signal_mv[0, 0] == 0.0
    with pytest.raises(ValueError):
        rec.signal_mv[0, 0] = 1.0
    with pytest.raises(TypeError):
        rec.meta["a"] = 2  # type: ignore[index]


def test_one_dimensional_signal_is_one_lead():
    rec = Recording(np.sin(np.arange(500) / 50), 500, "II")
    assert rec.leads == ("II",) and rec.signal_mv.shape == (500, 1)
    assert rec.duration_s == pytest.approx(1.0)
    assert rec.time_s[-1] == pytest.approx(0.998)


@pytest.mark.parametrize("kwargs, message", [
    (dict(signal_mv=np.zeros((10, 2)), leads=["I"]), "2 columns but 1 lead"),
    (dict(signal_mv=np.zeros((10, 2)), leads=["I", "i"]), "duplicate"),
    (dict(signal_mv=np.zeros((0, 1)), leads=["I"]), "empty"),
    (dict(signal_mv=np.zeros((2, 2, 2)), leads=["I", "II"]), "shape"),
    (dict(signal_mv=np.full((10, 1), np.nan), leads=["I"]), "all NaN"),
    (dict(signal_mv=np.array([[0.0], [np.inf]]), leads=["I"]), "inf"),
    (dict(signal_mv=np.full((10, 1), 1200.0), leads=["I"]), "µV"),
    (dict(signal_mv=[["a"]], leads=["I"]), "not numeric"),
])
def test_invalid_signals_are_rejected(kwargs, message):
    with pytest.raises(InputError, match=message):
        Recording(fs_hz=500, **kwargs)


@pytest.mark.parametrize("fs", [0, -500, float("nan"), float("inf"), 1e6, "fast", None])
def test_absurd_sampling_rates_are_rejected(fs):
    with pytest.raises(InputError, match="fs_hz"):
        Recording(np.zeros((10, 1)), fs, ["I"])


def test_nan_gaps_are_allowed():
    signal = np.zeros((100, 2))
    signal[:50, 0] = np.nan
    rec = Recording(signal, 500, ["I", "II"])
    assert np.isnan(rec.lead("I")[:50]).all() and np.isfinite(rec.lead("II")).all()
