"""training.ablation: paired bootstrap, per-item metric tables, configurations, and the CLI's bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from agent.cli import main
from tools.errors import InputError
from training.ablation import (CONFIGURATIONS, BootstrapConfig, metric_function, paired_bootstrap,
                               parse_configurations, score_ablation, to_markdown)
from training.ecgbench.fixtures import fixture_rows
from training.ecgbench.items import BenchItem, ImageRef, Prediction, Turn
from training.ecgbench.metrics import score_subset

CONFIG = BootstrapConfig(n_resamples=1000, seed=3)


def _items(subset: str, n: int, seed: int = 0) -> list[BenchItem]:
    rows = fixture_rows(subset, n, seed=seed)
    out = []
    for row in rows:
        question, answer = row["conversations"][0]["value"], row["conversations"][1]["value"]
        answers = tuple(answer) if isinstance(answer, list) else None
        question = "".join(question) if isinstance(question, list) else question
        out.append(BenchItem(id=row["id"], subset=subset, image_path=row["image_path"], image=ImageRef(data=b"x"),
                             turns=(Turn(question=question.replace("<image>\n", ""),
                                         answer=", ".join(answers) if answers else answer),), answer_list=answers))
    return out


def _predictions(items: list[BenchItem], texts: list[str], scores: bool = False) -> dict[str, Prediction]:
    rng = np.random.default_rng(0)
    labels = ("NORM", "MI", "STTC", "CD", "HYP", "1dAVb", "RBBB", "LBBB", "SB", "ST", "AF", "ABNORMAL", "I-AVB",
              "PAC", "PVC", "STD", "STE")
    return {item.id: Prediction(id=item.id, subset=item.subset, prompt=item.question, text=texts[i % len(texts)],
                                scores={c: float(rng.random()) for c in labels} if scores else None)
            for i, item in enumerate(items)}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


# ---- per-item metric tables equal the harness's scorer ------------------------------------------
@pytest.mark.parametrize("subset, texts, scores", [
    ("code15", ["AF", "NORM", "ABNORMAL", "no RBBB, ST depression", "SB; 1dAVb", "atrial fibrillation"], False),
    ("code15", ["AF", "NORM", "RBBB; LBBB"], True),
    ("ptb-xl-super", ["NORM", "MI; STTC", "ABNORMAL with CD", "left ventricular hypertrophy", "no MI"], False),
    ("cpsc", ["AF", "PAC; PVC", "normal ECG", "STE", "I-AVB; RBBB"], False),
    ("csn", ["A", "The answer is B.", "", "Answer: ECG shows D", "C. whatever"], False),
    ("ecgqa", ["yes", "no", "not sure", "lead i, lead ii", "none"], False),
])
def test_metric_function_on_all_items_equals_score_subset(subset, texts, scores):
    items = _items(subset, 40)
    predictions = _predictions(items, texts, scores)
    reference = score_subset(subset, items, predictions)
    got = metric_function(subset, items, predictions)(np.arange(len(items)))
    expected = {f"{mode}.{m}": v for mode, values in (("paper", reference.paper), ("corrected", reference.corrected))
                for m, v in values.items() if m != "auc_classes"}
    assert set(got) == set(expected)
    assert all(_same(got[k], expected[k]) for k in expected), (got, expected)


def test_metric_function_refuses_judged_subsets_and_missing_predictions():
    items = _items("csn", 4)
    with pytest.raises(InputError, match="no prediction"):
        metric_function("csn", items, _predictions(items[:2], ["A"]))
    report = _items("ptb-xl-report", 2)
    with pytest.raises(InputError, match="LLM judge"):
        metric_function("ptb-xl-report", report, _predictions(report, ["text"]))


# ---- the bootstrap on hand-checkable cases -------------------------------------------------------
def _accuracy(correct: list[int]):
    values = np.asarray(correct, float)
    return lambda index: {"accuracy": 100 * float(values[index].mean())}


def test_bootstrap_is_exact_when_every_resample_agrees():
    scores, diffs = paired_bootstrap({"full": _accuracy([1] * 12), "other": _accuracy([1] * 12)}, 12, CONFIG)
    assert scores["full"]["accuracy"].model_dump() == {"estimate": 100.0, "low": 100.0, "high": 100.0}
    assert diffs["other"]["accuracy"].model_dump() == {"estimate": 0.0, "low": 0.0, "high": 0.0}
    assert "full" not in diffs


def test_bootstrap_interval_contains_the_estimate_and_pairs_the_items():
    full = [1] * 10
    worse = [1] * 9 + [0]  # wrong on one item only
    scores, diffs = paired_bootstrap({"full": _accuracy(full), "worse": _accuracy(worse)}, 10, CONFIG)
    interval = scores["worse"]["accuracy"]
    assert interval.estimate == 90.0 and interval.low <= 90.0 <= interval.high and interval.low < interval.high
    # Paired: each resample's difference is minus the share of draws of the one item, never positive.
    diff = diffs["worse"]["accuracy"]
    assert diff.estimate == -10.0 and diff.high <= 0.0 < -diff.low
    # One item drawn k times out of 10 gives -10 k; the interval ends on such values.
    assert diff.low % 10 == 0 and diff.high % 10 == 0


def test_bootstrap_is_deterministic_by_seed():
    rng = np.random.default_rng(7)
    stats = {"full": _accuracy(list(rng.integers(0, 2, 301))), "b": _accuracy(list(rng.integers(0, 2, 301)))}
    first = paired_bootstrap(stats, 301, CONFIG)
    assert paired_bootstrap(stats, 301, CONFIG) == first
    other = paired_bootstrap(stats, 301, BootstrapConfig(n_resamples=1000, seed=4))
    assert other != first and other[0]["full"]["accuracy"].estimate == first[0]["full"]["accuracy"].estimate


def test_undefined_resamples_are_left_out_of_the_interval():
    values = np.array([1.0, 0.0, 0.0, 0.0])
    nan_when_item0_missing = {"full": lambda index: {"m": float(values[index].sum()) if 0 in index else float("nan")}}
    scores, _ = paired_bootstrap(nan_when_item0_missing, 4, CONFIG)
    assert scores["full"]["m"].estimate == 1.0 and scores["full"]["m"].low >= 1.0


def test_bootstrap_config_requires_a_thousand_resamples():
    with pytest.raises(InputError, match="n_resamples=999"):
        BootstrapConfig(n_resamples=999)


# ---- configurations and the whole scoring -----------------------------------------------------------
def test_configurations_switch_the_documented_tools():
    assert CONFIGURATIONS["mllm_only"].model_dump() == {"mllm": True, "digitizer": False, "measurement": False,
                                                        "crosscheck": False}
    assert not CONFIGURATIONS["tools_only"].mllm and CONFIGURATIONS["tools_only"].measurement
    assert not CONFIGURATIONS["mllm_tools_no_crosscheck"].crosscheck and CONFIGURATIONS["mllm_tools_no_crosscheck"].mllm
    assert all(CONFIGURATIONS["full"].model_dump().values())
    assert parse_configurations("all") == tuple(CONFIGURATIONS)
    assert parse_configurations(" full , tools_only") == ("full", "tools_only")
    for bad in ("full,bogus", "", "full,full"):
        with pytest.raises(InputError, match="--configs"):
            parse_configurations(bad)


def test_score_ablation_pairs_items_and_lists_disagreements():
    items = _items("csn", 6)
    answers = {item.id: item.answer[:1] for item in items}
    full = {i.id: Prediction(id=i.id, subset="csn", prompt=i.question, text=answers[i.id]) for i in items}
    wrong_first = {**full, items[0].id: full[items[0].id].model_copy(update={"text": "unsure"})}
    del wrong_first[items[5].id]  # not answered: left out of the comparison
    result = score_ablation("csn", items, {"mllm_only": wrong_first, "full": full}, CONFIG)
    assert result.n_paired == 5 and result.n_items == 6
    assert result.scores["full"]["corrected.accuracy"].estimate == 100.0
    assert result.scores["mllm_only"]["corrected.accuracy"].estimate == 80.0
    assert result.differences["mllm_only"]["corrected.accuracy"].estimate == -20.0
    assert [d.id for d in result.disagreements] == [items[0].id]
    d = result.disagreements[0]
    assert d.answers == {"mllm_only": "(none)", "full": answers[items[0].id]} and d.correct == {
        "mllm_only": False, "full": True} and d.texts["mllm_only"] == "unsure"
    markdown = to_markdown(result)
    assert "| corrected.accuracy |" in markdown and items[0].id in markdown and "Δ" in markdown


# ---- CLI bad input: one line, exit 2, before any inference ----------------------------------------
def _pulse_set(tmp_path, rows) -> str:
    (tmp_path / "csn-test-no-cot.json").write_text(json.dumps(rows))
    return str(tmp_path)


@pytest.mark.parametrize("extra, message", [
    (["--configs", "full,nonsense"], "unknown: nonsense"),
    (["--configs", "full"], "pass --mllm URL"),
    (["--configs", "tools_only", "--resamples", "10"], "--resamples must be >= 1000"),
    (["--configs", "tools_only", "--limit", "0"], "--limit must be >= 1"),
])
def test_cli_rejects_bad_options(tmp_path, capsys, extra, message):
    code = main(["ablate", _pulse_set(tmp_path, []), "--subset", "csn", "-o", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_rejects_an_empty_dataset_and_judged_subsets(tmp_path, capsys):
    assert main(["ablate", _pulse_set(tmp_path, []), "--subset", "csn", "--configs", "tools_only"]) == 2
    assert "has no rows" in capsys.readouterr().err
    assert main(["ablate", str(tmp_path), "--subset", "arena", "--configs", "tools_only"]) == 2
    assert "LLM judge" in capsys.readouterr().err


def test_cli_probes_an_unreachable_model_before_running(tmp_path, capsys):
    rows = [{"id": "x1", "image": "csn/1.png",
             "conversations": [{"from": "human", "value": "<image>\nWhich?\nA. a\nB. b"},
                               {"from": "gpt", "value": "A"}]}]
    (tmp_path / "images" / "csn").mkdir(parents=True)
    (tmp_path / "images" / "csn" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    code = main(["ablate", _pulse_set(tmp_path, rows), "--subset", "csn", "--mllm", "http://127.0.0.1:9",
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "failed a probe request" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing ran
