"""``ecg-agent bench agent``: the agent end to end on rendered simulated ECGs with known truth.

Figures (issue: agent): seconds per 200-DPI page through the whole graph, tools only, on one core
(p50, p90), beside the same tools called directly in the same run (the graph's overhead as a
ratio); the report's rhythm and rate against the simulator's truth across the rhythm set, with
every miss listed; and the cross-check's catch rate on controlled model claims (a right claim and
a wrong one per page, written from the truth): wrong claims caught, right claims wrongly disputed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "RHYTHM_SET"]

RHYTHM_SET: tuple[tuple[str, ...], ...] = (
    ("sinus_rhythm",), ("sinus_bradycardia",), ("sinus_tachycardia",), ("sinus_arrhythmia",),
    ("atrial_fibrillation",), ("atrial_flutter",), ("av_block_3",), ("sinus_rhythm", "av_block_1"),
    ("sinus_rhythm", "pvc"), ("sinus_rhythm", "rbbb"), ("sinus_rhythm", "lbbb"),
)
# A rhythm call counts as right when it is the truth or one of these equivalents.
_EQUIVALENT = {"sinus_arrhythmia": {"sinus_rhythm"}, "sinus_rhythm": {"sinus_arrhythmia"}}


def _controlled_claims(truth: Any) -> tuple[str, str]:
    """A right claim and a wrong one, written from the truth like an MLLM would state them."""
    rate = truth.heart_rate_bpm or 75.0
    rhythm = next(code for code in truth.labels if code in _RHYTHM_WORDS)
    # "sinus rhythm" is right about any sinus variant (origin), so sinus pages get AF as the wrong rhythm
    wrong_rhythm = "atrial_fibrillation" if rhythm.startswith("sinus") else "sinus_rhythm"
    right = f"{_RHYTHM_WORDS[rhythm]}. Heart rate {rate:.0f} bpm."
    wrong = f"{_RHYTHM_WORDS[wrong_rhythm]}. Heart rate {rate * 1.6:.0f} bpm."
    return right, wrong


_RHYTHM_WORDS = {"sinus_rhythm": "Sinus rhythm", "sinus_bradycardia": "Sinus bradycardia",
                 "sinus_tachycardia": "Sinus tachycardia", "sinus_arrhythmia": "Sinus arrhythmia",
                 "atrial_fibrillation": "Atrial fibrillation", "atrial_flutter": "Atrial flutter",
                 "av_block_3": "Complete heart block"}


async def _run(pages: list[tuple[tuple[str, ...], Any, bytes]]) -> dict[str, Any]:
    from agent.api import ECGAgent
    from agent.config import AgentConfig
    from agent.crosscheck import Tolerances, check_claims
    from models.claims import parse_claims
    from tools.benchmarking import rate_right
    from tools.digitize import DigitizeConfig, digitize
    from tools.measure import MeasureConfig, measure

    agent_s, direct_s, misses, rows = [], [], [], []
    caught = wrong_total = wrongly_disputed = right_total = 0
    async with ECGAgent(AgentConfig(checkpoint_path=None)) as agent:
        for labels, truth, png in pages:
            start = time.perf_counter()
            report = await agent.interpret(png, name="+".join(labels))
            agent_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            measure(digitize(png, DigitizeConfig()).recording, MeasureConfig())
            direct_s.append(time.perf_counter() - start)
            meas = report.measurements or {}
            label = (meas.get("rhythm") or {}).get("label")
            rate = (meas.get("global") or {}).get("heart_rate_bpm")
            rhythm_truth = next(code for code in truth.labels if code in _RHYTHM_WORDS)
            rhythm_ok = label == rhythm_truth or label in _EQUIVALENT.get(rhythm_truth, set())
            rate_ok = rate_right(rate, truth.heart_rate_bpm)
            rows.append({"labels": labels, "truth_rhythm": rhythm_truth, "rhythm": label, "truth_rate": truth.heart_rate_bpm,
                         "rate": rate, "rhythm_ok": rhythm_ok, "rate_ok": rate_ok})
            if not (rhythm_ok and rate_ok):
                misses.append(rows[-1])
            right, wrong = _controlled_claims(truth)
            right_checks = check_claims(parse_claims(right), report.measurements, Tolerances())
            wrong_checks = check_claims(parse_claims(wrong), report.measurements, Tolerances())
            right_total += len(right_checks)
            wrong_total += len(wrong_checks)
            wrongly_disputed += sum(c.verdict == "disputed" for c in right_checks)
            caught += sum(c.verdict == "disputed" for c in wrong_checks)
    return {"agent_s": agent_s, "direct_s": direct_s, "rows": rows, "misses": misses,
            "claims": {"wrong": wrong_total, "caught": caught, "right": right_total,
                       "wrongly_disputed": wrongly_disputed}}


def _pages(per_rhythm: int, seed: int) -> list[tuple[tuple[str, ...], Any, bytes]]:
    from agent.figures import encode_png
    from tools.render import RenderConfig, render
    from tools.simulate import sample_config, simulate

    pages = []
    for k, labels in enumerate(RHYTHM_SET):
        for i in range(per_rhythm):
            sim = simulate(sample_config(seed + 1000 * k + i, fs_hz=500, labels=labels))
            pages.append((labels, sim.truth, encode_png(render(sim.recording, RenderConfig()).image)))
    return pages


def _run_bench(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from tools.benchmarking import pin_one_core, write_results

    pin_one_core()
    pages = _pages(args.per_rhythm, args.seed)
    result = asyncio.run(_run(pages))
    agent_s, direct_s = np.array(result["agent_s"]), np.array(result["direct_s"])
    n = len(result["rows"])
    rhythm_acc = sum(r["rhythm_ok"] for r in result["rows"]) / n
    rate_acc = sum(r["rate_ok"] for r in result["rows"]) / n
    claims = result["claims"]
    figures = {
        "pages": n, "p50_s": float(np.median(agent_s)), "p90_s": float(np.percentile(agent_s, 90)),
        "direct_tools_p50_s": float(np.median(direct_s)),
        "graph_overhead_ratio": float(np.median(agent_s) / np.median(direct_s)),
        "rhythm_accuracy": rhythm_acc, "rate_accuracy": rate_acc,
        "both_right": sum(r["rhythm_ok"] and r["rate_ok"] for r in result["rows"]) / n,
        "wrong_claims_caught": f"{claims['caught']}/{claims['wrong']}",
        "right_claims_wrongly_disputed": f"{claims['wrongly_disputed']}/{claims['right']}",
        "misses": result["misses"], "targets": {"p50_s": 1.5, "rhythm_and_rate": 0.95},
    }
    table = Table(title=f"ecg-agent bench agent — {n} rendered 200-DPI pages, tools only, one core")
    for column in ("figure", "value", "target / baseline"):
        table.add_column(column)
    table.add_row("seconds per page, p50 (p90)", f"{figures['p50_s']:.2f} ({figures['p90_s']:.2f})", "≤ 1.5")
    table.add_row("same tools called directly, p50", f"{figures['direct_tools_p50_s']:.2f}",
                  f"graph overhead × {figures['graph_overhead_ratio']:.2f}")
    table.add_row("rhythm right", f"{rhythm_acc:.1%}", "≥ 95 %")
    table.add_row("rate right (±10 % or 5 bpm)", f"{rate_acc:.1%}", "≥ 95 %")
    table.add_row("wrong model claims caught", figures["wrong_claims_caught"], "all")
    table.add_row("right model claims wrongly disputed", figures["right_claims_wrongly_disputed"], "none")
    console = Console()
    console.print(table)
    for miss in result["misses"]:
        console.print(f"miss: {miss}")
    console.print(f"results: {write_results('agent', figures, args.results_dir)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent bench agent``."""
    parser = subparsers.add_parser("agent", help="end-to-end seconds per page, rhythm/rate accuracy, claim catch rate",
                                   description=__doc__)
    parser.add_argument("--per-rhythm", type=int, default=4, help="pages per rhythm/finding in the set (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed offset (default: 0)")
    parser.add_argument("--results-dir", type=Path, default=None, help="where to write agent.json (default: bench/results)")
    parser.set_defaults(run=_run_bench)
