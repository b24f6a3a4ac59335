"""``ecg-agent bench simulate``: simulator throughput on one core beside NeuroKit2's multilead simulator.

Both sides produce a 10-s, 500-Hz, 12-lead record per call; NeuroKit2's
``ecg_simulate(method="multileads")`` is the baseline the issue names (it has no ground truth and
breaks Einthoven's law, which is why the project has its own).
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

__all__ = ["add_parser"]

_TARGET_RECORDS_PER_S = 50.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench simulate`` (entry point of group ``ecg_agent.bench``)."""
    parser = subparsers.add_parser(
        "simulate", help="records/s of the simulator vs NeuroKit2 multileads (one core)",
        description="Time simulate() for 10-s 500-Hz 12-lead records (default sinus, and varied configs "
                    "from sample_config with noise) beside nk.ecg_simulate(duration=10, sampling_rate=500, "
                    "method='multileads') in the same run on one core; writes bench/results/simulate.json.")
    parser.add_argument("--repeats", type=int, default=100, metavar="N",
                        help="timed records per measurement of our simulator (default 100; NeuroKit2 gets "
                             "N/20, at least 3)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Measure, print a table and write the results file."""
    import neurokit2 as nk

    from tools.benchmarking import pin_one_core, time_per_call_s, write_results
    from tools.errors import InputError
    from tools.simulate import SimulationConfig, sample_config, simulate
    from tools.vocabulary import LABELS

    if args.repeats < 1:
        raise InputError(f"--repeats {args.repeats}: must be at least 1")
    pin_one_core()
    seeds = iter(range(10**9))
    default_s = time_per_call_s(lambda: simulate(SimulationConfig(fs_hz=500, seed=next(seeds))), repeats=args.repeats)
    codes = [code for code in LABELS if code not in ("normal_axis", "normal_ecg")]
    varied = [sample_config(seed, fs_hz=500, labels=[codes[seed % len(codes)]], noisy=True)
              for seed in range(args.repeats + 1)]
    configs = iter(varied)
    varied_s = time_per_call_s(lambda: simulate(next(configs)), repeats=args.repeats)
    with warnings.catch_warnings():  # NeuroKit2's own deprecation chatter is not ours to fix
        warnings.simplefilter("ignore")
        baseline_s = time_per_call_s(lambda: nk.ecg_simulate(duration=10, sampling_rate=500, method="multileads",
                                                             random_state=next(seeds)),
                                     repeats=max(3, args.repeats // 20))
    figures: dict[str, Any] = {
        "record": "10 s, 500 Hz, 12 leads", "repeats": args.repeats,
        "records_per_s_default": 1 / default_s, "records_per_s_varied_noisy": 1 / varied_s,
        "neurokit2_multileads_records_per_s": 1 / baseline_s,
        "speedup_default_vs_neurokit2": baseline_s / default_s,
        "target_records_per_s": _TARGET_RECORDS_PER_S,
    }
    print(f"{'one core, 10 s x 500 Hz x 12 leads':<40}{'records/s':>11}{'ms/record':>11}")
    for name, seconds in (("ecg-agent simulate (default sinus)", default_s),
                          ("ecg-agent simulate (varied + noise)", varied_s),
                          ("neurokit2 ecg_simulate multileads", baseline_s)):
        print(f"{name:<40}{1 / seconds:>11.1f}{seconds * 1000:>11.1f}")
    print(f"{baseline_s / default_s:.0f}x NeuroKit2; target >= {_TARGET_RECORDS_PER_S:g} records/s")
    print(f"results: {write_results('simulate', figures)}")
    return 0
