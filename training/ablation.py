"""Tool ablation: one benchmark subset under several tool configurations, side by side.

Every configuration runs the real agent (:class:`training.ecgbench.agent_runner.AgentRunner`, i.e.
``ECGAgent.interpret`` as users call it) with different :class:`agent.config.ToolSwitches`:

=========================  ====  =========  ===========  ==========
configuration              mllm  digitizer  measurement  crosscheck
=========================  ====  =========  ===========  ==========
mllm_only                  on    off        off          off
tools_only                 off   on         on           (nothing to check)
mllm_tools_no_crosscheck   on    on         on           off
full                       on    on         on           on
=========================  ====  =========  ===========  ==========

Each configuration's predictions are scored with the ECGBench harness's metrics (paper-compatible
and corrected). Uncertainty comes from a paired, seeded percentile bootstrap over items: every
resample draws the same items for every configuration, so differences to ``full`` have their own
intervals (narrower than the two separate intervals suggest when configurations agree on most
items). Only items that every configuration answered are compared. Per-item disagreements list the
items whose parsed answers differ between configurations, with each answer.

The per-item metric tables reproduce :func:`training.ecgbench.metrics.score_subset` exactly on the
full item set (a test checks it); they exist because re-parsing every answer in each of 1,000
resamples would take hours on a full subset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.api import ECGAgent
from agent.config import ToolSwitches
from tools.config import FrozenConfig
from tools.errors import InputError
from training.ecgbench import parsing
from training.ecgbench.agent_runner import AgentRunner
from training.ecgbench.items import BenchItem, Prediction
from training.ecgbench.metrics import ItemOutcome, multilabel_metrics, score_subset
from training.ecgbench.runners import RunSummary, run_bench
from training.ecgbench.subsets import SubsetSpec, subset_spec

__all__ = ["CONFIGURATIONS", "REFERENCE", "parse_configurations", "BootstrapConfig", "Interval", "Disagreement",
           "AblationResult", "metric_function", "paired_bootstrap", "score_ablation", "run_ablation",
           "results_table", "to_markdown"]

CONFIGURATIONS: dict[str, ToolSwitches] = {
    "mllm_only": ToolSwitches(mllm=True, digitizer=False, measurement=False, crosscheck=False),
    "tools_only": ToolSwitches(mllm=False),
    "mllm_tools_no_crosscheck": ToolSwitches(crosscheck=False),
    "full": ToolSwitches(),
}
REFERENCE = "full"
_TEXT_CHARS = 500  # raw answer texts kept per disagreement

Statistic = Callable[[np.ndarray], dict[str, float]]


def parse_configurations(spec: str) -> tuple[str, ...]:
    """Configuration names from a comma list (``"all"`` = every one), in the order given.

    Raises
    ------
    InputError
        An unknown or repeated name, or an empty list.
    """
    names = list(CONFIGURATIONS) if spec.strip() == "all" else [p.strip() for p in spec.split(",") if p.strip()]
    unknown = [name for name in names if name not in CONFIGURATIONS]
    if unknown or not names or len(set(names)) != len(names):
        which = f"; unknown: {', '.join(unknown)}" if unknown else ""
        raise InputError(f"--configs {spec!r}: expected a comma list of distinct names from "
                         f"{', '.join(CONFIGURATIONS)} (or 'all'){which}")
    return tuple(names)


class BootstrapConfig(FrozenConfig):
    """Paired percentile bootstrap over items."""

    n_resamples: int = Field(1000, ge=1000, description="resamples (count); 1,000 or more")
    confidence: float = Field(0.95, gt=0.0, lt=1.0, description="two-sided coverage of each interval")
    seed: int = Field(0, ge=0, description="seed of the resampling")


class Interval(BaseModel):
    """A point estimate on all items and its bootstrap interval (percent, like the metrics)."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float


class Disagreement(BaseModel):
    """One item the configurations answered differently (answers as the corrected scorer read them)."""

    model_config = ConfigDict(frozen=True)

    id: str
    reference: str
    answers: dict[str, str]
    correct: dict[str, bool | None]
    texts: dict[str, str] = Field(description=f"raw answer per configuration, first {_TEXT_CHARS} characters")


class AblationResult(BaseModel):
    """Scores per configuration, differences to ``full`` and disagreements, in percent."""

    model_config = ConfigDict(frozen=True)

    subset: str
    n_items: int
    n_paired: int
    configurations: list[str]
    scores: dict[str, dict[str, Interval]] = Field(description="configuration -> 'mode.metric' -> interval")
    differences: dict[str, dict[str, Interval]] = Field(description="configuration -> metric -> (it − full)")
    disagreements: list[Disagreement]
    bootstrap: BootstrapConfig
    notes: list[str]


# ---- per-item metric tables --------------------------------------------------------------------
def _binary(label_sets: Sequence[set[str]], classes: Sequence[str]) -> np.ndarray:
    return np.array([[c in labels for c in classes] for labels in label_sets], dtype=bool).reshape(-1, len(classes))


def _split(joined: str) -> set[str]:
    return {part for part in joined.split(", ") if part}


def _multilabel_statistic(spec: SubsetSpec, items: Sequence[BenchItem], predictions: Mapping[str, Prediction],
                          outcomes: Sequence[ItemOutcome]) -> Statistic:
    # Class universes in score_subset's orders: sorted (paper), label-space order (corrected).
    universe_p = sorted({*spec.labels, "NORM", "ABNORMAL"})
    universe_c = list(dict.fromkeys((*spec.labels, "NORM", "ABNORMAL")))
    gold_p = _binary([parsing.paper_golden_labels(item.answer, spec) for item in items], universe_p)
    pred_p = _binary([_split(o.paper) for o in outcomes], universe_p)
    gold_c = _binary([_split(o.reference) for o in outcomes], universe_c)
    pred_c = _binary([_split(o.corrected) for o in outcomes], universe_c)
    present_c = [c for c, seen in zip(universe_c, gold_c.any(axis=0), strict=True) if seen]
    preds = [predictions[item.id] for item in items]
    with_scores = all(p.scores and all(c in p.scores for c in present_c) for p in preds)
    scores = np.array([[(p.scores or {}).get(c, 0.0) for c in universe_c] for p in preds]) if with_scores else None

    def statistic(index: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for mode, gold, pred, ranked in (("paper", gold_p, pred_p, None), ("corrected", gold_c, pred_c, scores)):
            cols = gold[index].any(axis=0)
            if not cols.any():
                out.update({f"{mode}.{m}": float("nan") for m in ("auc", "f1", "hamming_loss")})
                continue
            values = multilabel_metrics(gold[index][:, cols], pred[index][:, cols],
                                        None if ranked is None else ranked[index][:, cols],
                                        skip_undefined_auc=mode == "corrected")
            out.update({f"{mode}.{m}": v for m, v in values.items() if m != "auc_classes"})
        return out
    return statistic


def metric_function(subset: str, items: Sequence[BenchItem], predictions: Mapping[str, Prediction], *,
                    seed: int = 42) -> Statistic:
    """The subset's metrics as a function of an item index array (with repeats, for resampling).

    ``metric_function(...)(np.arange(len(items)))`` equals :func:`score_subset`'s paper and
    corrected figures (keys ``paper.<metric>``, ``corrected.<metric>``). The paper's random letter
    for an unparseable multiple-choice answer is drawn once per item (``seed``) and kept in every
    resample.

    Raises
    ------
    InputError
        An item without a prediction, or a subset scored by an LLM judge (not supported here).
    """
    return _statistic(subset, items, predictions, seed)[0]


def _statistic(subset: str, items: Sequence[BenchItem], predictions: Mapping[str, Prediction],
               seed: int) -> tuple[Statistic, list[ItemOutcome]]:
    spec = subset_spec(subset)
    if spec.kind in ("report", "arena"):
        raise InputError(f"subset {spec.name} is scored by an LLM judge; ablate supports the label, multiple-choice "
                         f"and ECG-QA subsets (run `ecg-agent bench ecgbench` on each configuration's predictions)")
    missing = [item.id for item in items if item.id not in predictions]
    if missing:
        raise InputError(f"{len(missing)} items have no prediction (first: {missing[0]!r})")
    outcomes = score_subset(spec.name, items, predictions, seed=seed).outcomes
    if spec.kind == "multilabel":
        return _multilabel_statistic(spec, items, predictions, outcomes), outcomes
    paper_ok = np.array([bool(o.paper_correct) for o in outcomes], float)
    corrected_ok = np.array([bool(o.corrected_correct) for o in outcomes], float)
    unparsed = np.array([o.corrected == "(none)" for o in outcomes], float)

    def statistic(index: np.ndarray) -> dict[str, float]:
        out = {"paper.accuracy": 100 * paper_ok[index].mean(), "corrected.accuracy": 100 * corrected_ok[index].mean()}
        if spec.kind == "mcq":
            out["corrected.unparseable"] = 100 * unparsed[index].mean()
        return {k: float(v) for k, v in out.items()}
    return statistic, outcomes


# ---- bootstrap ---------------------------------------------------------------------------------
def _interval(estimate: float, samples: np.ndarray, confidence: float) -> Interval:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return Interval(estimate=estimate, low=float("nan"), high=float("nan"))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(estimate=estimate, low=float(low), high=float(high))


def paired_bootstrap(statistics: Mapping[str, Statistic], n_items: int, config: BootstrapConfig,
                     reference: str | None = REFERENCE
                     ) -> tuple[dict[str, dict[str, Interval]], dict[str, dict[str, Interval]]]:
    """Percentile intervals of every statistic, and of each one's difference to ``reference``.

    Parameters
    ----------
    statistics : mapping of name to function
        ``f(index) -> {metric: value}`` over the same ``n_items`` items, in the same order.
    n_items : int
        Items (>= 1); each resample draws ``n_items`` indices with replacement, shared by all.
    config : BootstrapConfig
    reference : str or None
        Name the differences are taken against (skipped when None or absent).

    Returns
    -------
    scores, differences : dict name -> metric -> Interval
        Estimates on all items; a resample where a metric is undefined (NaN) is left out of its
        interval.
    """
    if n_items < 1:
        raise InputError(f"n_items must be >= 1, got {n_items}")
    rng = np.random.default_rng(config.seed)
    everything = np.arange(n_items)
    estimates = {name: f(everything) for name, f in statistics.items()}
    draws: dict[str, dict[str, list[float]]] = {name: {m: [] for m in values} for name, values in estimates.items()}
    for _ in range(config.n_resamples):
        index = rng.integers(0, n_items, n_items)
        for name, f in statistics.items():
            for metric, value in f(index).items():
                draws[name][metric].append(value)
    samples = {name: {m: np.asarray(v, float) for m, v in metrics.items()} for name, metrics in draws.items()}
    scores = {name: {m: _interval(estimates[name][m], samples[name][m], config.confidence) for m in metrics}
              for name, metrics in samples.items()}
    differences: dict[str, dict[str, Interval]] = {}
    if reference in statistics:
        for name in statistics:
            if name != reference:
                differences[name] = {m: _interval(estimates[name][m] - estimates[reference][m],
                                                  samples[name][m] - samples[reference][m], config.confidence)
                                     for m in samples[name]}
    return scores, differences


# ---- whole ablation ----------------------------------------------------------------------------
def _disagreements(items: Sequence[BenchItem], outcomes: Mapping[str, Sequence[ItemOutcome]],
                   predictions: Mapping[str, Mapping[str, Prediction]]) -> list[Disagreement]:
    out = []
    for position, item in enumerate(items):
        row = {name: rows[position] for name, rows in outcomes.items()}
        if len({o.corrected for o in row.values()}) > 1:
            out.append(Disagreement(
                id=item.id, reference=next(iter(row.values())).reference,
                answers={name: o.corrected for name, o in row.items()},
                correct={name: o.corrected_correct for name, o in row.items()},
                texts={name: predictions[name][item.id].text[:_TEXT_CHARS] for name in row}))
    return out


def score_ablation(subset: str, items: Sequence[BenchItem], predictions: Mapping[str, Mapping[str, Prediction]],
                   config: BootstrapConfig, *, seed: int = 42) -> AblationResult:
    """Score each configuration's predictions on the items all of them answered, with paired
    bootstrap intervals, differences to ``full`` and per-item disagreements.

    Parameters
    ----------
    subset : str
    items : sequence of BenchItem
    predictions : mapping configuration -> (id -> Prediction)
    config : BootstrapConfig
    seed : int
        Seed of the paper's random letter for unparseable multiple-choice answers.

    Raises
    ------
    InputError
        No configuration, no item answered by every configuration, or a judged subset.
    """
    if not predictions:
        raise InputError("no configuration to score")
    paired = [item for item in items if all(item.id in preds for preds in predictions.values())]
    if not paired:
        raise InputError(f"none of the {len(items)} items was answered by every configuration")
    spec = subset_spec(subset)
    tables = {name: _statistic(spec.name, paired, preds, seed) for name, preds in predictions.items()}
    scores, differences = paired_bootstrap({name: f for name, (f, _) in tables.items()}, len(paired), config)
    outcomes = {name: rows for name, (_, rows) in tables.items()}
    notes = [f"{len(paired)} of {len(items)} items answered by every configuration are compared",
             f"paired percentile bootstrap: {config.n_resamples} resamples, {100 * config.confidence:g} % intervals, "
             f"seed {config.seed}"]
    if REFERENCE not in predictions:
        notes.append("no 'full' configuration: differences are not computed")
    return AblationResult(subset=spec.name, n_items=len(items), n_paired=len(paired),
                          configurations=list(predictions), scores=scores, differences=differences,
                          disagreements=_disagreements(paired, outcomes, predictions), bootstrap=config, notes=notes)


async def run_ablation(items: Sequence[BenchItem], agent: ECGAgent, configurations: Sequence[str], out_dir: str | Path, *,
                       concurrency: int = 2) -> dict[str, RunSummary]:
    """Answer ``items`` under each configuration with the real agent; predictions go to
    ``out_dir/<configuration>.jsonl`` (resumable: answered items are skipped on a re-run).

    Parameters
    ----------
    items : sequence of BenchItem
    agent : ECGAgent
        Supplies the configuration and the model client.
    configurations : sequence of str
        Names from :data:`CONFIGURATIONS`.
    out_dir : str or Path
    concurrency : int
        Items in flight at once.
    """
    summaries = {}
    for name in configurations:
        runner = AgentRunner(agent, CONFIGURATIONS[name], label=name)
        summaries[name] = await run_bench(items, runner, Path(out_dir) / f"{name}.jsonl", concurrency=concurrency)
    return summaries


# ---- presentation ------------------------------------------------------------------------------
def _cell(interval: Interval) -> str:
    return f"{interval.estimate:.1f} [{interval.low:.1f}, {interval.high:.1f}]"


def _rows(result: AblationResult) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """(metric, [(score cell, difference cell or None) per configuration])."""
    metrics = list(next(iter(result.scores.values())))
    return [(metric, [(_cell(result.scores[name][metric]),
                       f"Δ {_cell(result.differences[name][metric])}" if name in result.differences else None)
                      for name in result.configurations]) for metric in metrics]


def results_table(result: AblationResult):
    """The side-by-side table as a :class:`rich.table.Table` (estimate [interval], Δ vs full)."""
    from rich.table import Table

    table = Table(title=f"Tool ablation on {result.subset}: {result.n_paired} items, percent, "
                        f"{100 * result.bootstrap.confidence:g} % bootstrap intervals; Δ = configuration − full")
    table.add_column("metric")
    for name in result.configurations:
        table.add_column(name, justify="right")
    for metric, cells in _rows(result):
        table.add_row(metric, *[score if diff is None else f"{score}\n{diff}" for score, diff in cells])
    return table


def to_markdown(result: AblationResult) -> str:
    """The table, the notes and every disagreement as Markdown."""
    lines = [f"# Tool ablation on {result.subset}", "",
             f"{result.n_paired} items; percent; {100 * result.bootstrap.confidence:g} % paired bootstrap intervals "
             f"in brackets; Δ = configuration − full.", "",
             "| metric | " + " | ".join(result.configurations) + " |",
             "|---|" + "---:|" * len(result.configurations)]
    for metric, cells in _rows(result):
        lines.append(f"| {metric} | " + " | ".join(s if d is None else f"{s}<br>{d}" for s, d in cells) + " |")
    lines += ["", *[f"- {note}" for note in result.notes], "",
              f"## Disagreements ({len(result.disagreements)} items)", ""]
    if result.disagreements:
        lines += ["| id | reference | " + " | ".join(result.configurations) + " |",
                  "|---|---|" + "---|" * len(result.configurations)]
        for d in result.disagreements:
            marks = [f"{d.answers[n] or '(empty)'} {'✓' if d.correct[n] else '✗'}" for n in result.configurations]
            lines.append(f"| {d.id} | {d.reference} | " + " | ".join(m.replace("|", "/") for m in marks) + " |")
    return "\n".join(lines) + "\n"
