"""``ecg-agent simulate``: write a simulated 12-lead record and its exact ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_NOISE_OPTIONS = (("baseline_wander", "baseline_wander_mv"), ("wander_hz", "baseline_wander_hz"),
                  ("mains", "mains_mv"), ("mains_hz", "mains_hz"), ("emg", "emg_mv"),
                  ("motion", "electrode_motion_mv"))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``simulate`` (entry point of group ``ecg_agent.commands``)."""
    parser = subparsers.add_parser(
        "simulate", help="simulate a 12-lead ECG with exact ground truth (fiducials, intervals, labels)",
        description="Simulate a 12-lead ECG from a 3-D cardiac dipole. Writes the record (WFDB OUT.hea/.dat "
                    "by default; OUT.csv or OUT.npz by suffix) and OUT.truth.json (the resolved config, "
                    "per-beat global fiducials in s, global intervals, axes and labels). With --label the "
                    "config is drawn at random (seeded) to show those labels; the other options then "
                    "override the draw.")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output record path: no suffix, .hea or .dat for WFDB, .csv or .npz")
    parser.add_argument("--fs", type=float, default=500.0, metavar="HZ",
                        help="sampling rate in Hz, 50-10000 (default 500)")
    parser.add_argument("--duration", type=float, default=10.0, metavar="S",
                        help="record length in s, 2-600 (default 10)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of every random choice (default 0)")
    parser.add_argument("--rhythm", metavar="CODE",
                        help="rhythm code: sinus_rhythm, sinus_bradycardia, sinus_tachycardia, sinus_arrhythmia, "
                             "atrial_fibrillation, atrial_flutter, av_block_3 (default sinus_rhythm)")
    parser.add_argument("--label", nargs="+", action="extend", default=[], metavar="CODE",
                        help="vocabulary codes the ECG must show (e.g. lbbb pvc st_elevation_inferior); draws a "
                             "varied config for them")
    parser.add_argument("--hr", type=float, metavar="BPM",
                        help="heart rate in beats/min: the sinus rate, the ventricular rate in AF, the escape "
                             "rate in av_block_3 (default: typical for the rhythm)")
    parser.add_argument("--atrial-rate", type=float, metavar="BPM",
                        help="atrial rate in beats/min: flutter waves (240-350) or P waves in av_block_3")
    parser.add_argument("--pr", type=float, metavar="MS", help="PR interval in ms (default 160; 260 in AV block 1)")
    parser.add_argument("--qrs", type=float, metavar="MS", help="QRS duration in ms (default 90; wider with BBB)")
    parser.add_argument("--qt", type=float, metavar="MS", help="QT interval in ms (default: follows the rate)")
    noise = parser.add_argument_group("noise (all off by default)")
    noise.add_argument("--noisy", action="store_true",
                       help="draw realistic random noise (baseline wander, EMG, sometimes mains and electrode "
                            "motion); the options below override it")
    noise.add_argument("--baseline-wander", type=float, metavar="MV", help="baseline wander amplitude in mV (0-3)")
    noise.add_argument("--wander-hz", type=float, metavar="HZ", help="baseline wander frequency in Hz (default 0.3)")
    noise.add_argument("--mains", type=float, metavar="MV", help="power-line interference amplitude in mV (0-1)")
    noise.add_argument("--mains-hz", type=int, metavar="HZ", help="power-line frequency in Hz: 50 or 60 (default 50)")
    noise.add_argument("--emg", type=float, metavar="MV", help="muscle noise RMS in mV, 20-150 Hz (0-0.5)")
    noise.add_argument("--motion", type=float, metavar="MV",
                       help="electrode-motion artefact size in mV (0-5; about 6 artefacts per minute)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the config, simulate, write the record and the truth JSON, print the paths."""
    from tools.record_io import write_record
    from tools.simulate import simulate

    config = _config(args)
    simulation = simulate(config)
    output = Path(args.output)
    written = write_record(simulation.recording, output)
    stem = output.with_suffix("") if output.suffix.lower() in (".hea", ".dat", ".csv", ".npz") else output
    truth_path = stem.parent / f"{stem.name}.truth.json"
    payload = {"config": config.model_dump(mode="json"), "truth": simulation.truth.model_dump(mode="json")}
    truth_path.write_text(json.dumps(payload, indent=1) + "\n")
    truth = simulation.truth
    rate = "no" if truth.heart_rate_bpm is None else f"{truth.heart_rate_bpm:.0f}"
    print(f"{config.rhythm}, {rate} bpm, {len(truth.beats)} beats; labels: {', '.join(truth.labels)}")
    for path in [*written, truth_path]:
        print(path)
    return 0


def _config(args: argparse.Namespace) -> Any:
    """The SimulationConfig the options ask for (drawn by sample_config when --label or --noisy)."""
    from tools.simulate import NoiseConfig, SimulationConfig, sample_config

    explicit: dict[str, Any] = {key: value for key, value in (
        ("heart_rate_bpm", args.hr), ("atrial_rate_bpm", args.atrial_rate), ("pr_ms", args.pr),
        ("qrs_ms", args.qrs), ("qt_ms", args.qt)) if value is not None}
    base: dict[str, Any] = {"fs_hz": args.fs, "duration_s": args.duration, "seed": args.seed}
    if args.label or args.noisy:
        labels = list(args.label) + ([args.rhythm] if args.rhythm else [])
        base = sample_config(args.seed, fs_hz=args.fs, labels=labels, duration_s=args.duration,
                             noisy=args.noisy).model_dump()
        if {"heart_rate_bpm", "atrial_rate_bpm"} & set(explicit):
            base.pop("hrv_sd_ms", None)  # both were drawn for the drawn rate: let them follow the new one
            base.pop("qt_ms", None)
    elif args.rhythm:
        base["rhythm"] = args.rhythm
    noise = dict(base.get("noise", {}))
    noise.update({field: getattr(args, option) for option, field in _NOISE_OPTIONS
                  if getattr(args, option) is not None})
    return SimulationConfig(**{**base, **explicit, "noise": NoiseConfig(**noise)})
