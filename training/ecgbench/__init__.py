"""ECGBench harness: load the nine subsets, run a model, score paper-compatible and corrected.

::

    subsets      SUBSETS, subset_spec, REFERENCE_RESULTS     names, label spaces, published numbers
    items        BenchItem, Prediction, ImageRef, Turn        typed rows and answers
    loader       load_items, read_image                       HF parquet or PULSE JSON + images
    predictions  read_predictions, open_for_append, ...       resumable JSONL (PULSE answer-file shape)
    runners      Runner, MLLMRunner, run_bench                answer items, append as they finish
    parsing      paper_* / corrected_*                        labels, letters, ECG-QA options from text
    metrics      score_subset, multilabel_metrics, auc_roc    both modes side by side
    judge        JudgeConfig, judge_predictions               LLM judge (report, arena), cached
    fixtures     write_fixture_set, render_fixture_images     small sets in ECGBench's exact formats

See docs/ecgbench.md for the quirks of the published scorer that paper-compatible mode keeps.
"""

from training.ecgbench.items import BenchItem, ImageRef, Prediction, Turn
from training.ecgbench.judge import JudgeConfig, judge_predictions
from training.ecgbench.loader import load_items, read_image
from training.ecgbench.metrics import SubsetScores, score_subset
from training.ecgbench.predictions import read_predictions
from training.ecgbench.runners import MLLMRunner, Runner, RunSummary, run_bench
from training.ecgbench.subsets import REFERENCE_RESULTS, SUBSETS, subset_spec

__all__ = ["BenchItem", "ImageRef", "Prediction", "Turn", "JudgeConfig", "judge_predictions", "load_items",
           "read_image", "SubsetScores", "score_subset", "read_predictions", "MLLMRunner", "Runner",
           "RunSummary", "run_bench", "REFERENCE_RESULTS", "SUBSETS", "subset_spec"]
