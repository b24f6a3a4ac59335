"""Answer ECGBench items with the real agent, under any tool configuration.

:class:`AgentRunner` implements the :class:`~training.ecgbench.runners.Runner` protocol by calling
exactly what users call, ``ECGAgent.interpret(image, question=<the item's question>, tools=...)``
(and ``ECGAgent.ask`` for ECG Arena's second turn), then turning the grounded report into the
answer the benchmark item expects.

How an answer is derived from a report (the rule; docs/ablation.md says the same):

1. **Nothing measured** (``report.measurements`` is None: measurement or digitizer switched off, or
   the digitizer could not trace the page): the answer is the model's own answer to the item's
   question (``followups[-1].model_answer``), i.e. exactly the raw MLLM path; "" without a model.
2. **Something measured** -- the report's *final findings* (:func:`final_findings`):

   - every finding the measurement states (rhythm label and measurement statements), unless the
     model denied it and the report marked the measurement low quality (then the model stands);
   - every finding the model affirmed, hedged or not (``report.model_answers``, read by the same
     claim parser the agent uses), that the report did not dispute -- agreed ones, and those nothing measured (the
     tools cannot assess them, or the cross-check was switched off);
   - a disputed model finding is resolved as the report resolves disputes: the measurement is not
     overridden (model revised or maintained alike), except when the report marked the
     measurement low quality (``measurement_low_quality``), where the model's finding stands.

   Then, per item type:

   - label lists (PTB-XL super, CODE-15, CPSC): the final findings mapped to the subset's classes
     with the harness's own mapping, written as ``CODE; CODE``. CODE-15's whole-answer classes:
     ``NORM`` when no finding beyond sinus rhythm / normal axis / normal ECG remains, ``ABNORMAL``
     when abnormal findings remain but none of the six classes;
   - multiple choice (CSN, G12EC, MMMU-ECG): the one option whose findings are all among the final
     findings; when no option or several qualify, the model's own answer ("" without a model);
   - ECG-QA: the model's own answer (the report cannot choose among ECG-QA's options: leads, noise
     types...); the follow-up's grounded answer without a model;
   - open questions (PTB-XL report, Arena): the follow-up answer (grounded lines, the model's
     answer and its cross-check).

Failures: a report that refused the image is an InputError for the item; a configuration that
uses the model but got no model answer raises ModelUnavailableError when no model call of the
report succeeded either (the server is down: the run stops), else ModelResponseError (the item is
retried on the next run).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from agent.api import ECGAgent
from agent.config import ToolSwitches
from agent.crosscheck import SINUS
from agent.report import FollowUpAnswer, GroundedReport
from models.claims import parse_claims
from models.errors import ModelResponseError, ModelUnavailableError
from tools.errors import InputError
from tools.vocabulary import LABELS
from training.ecgbench.items import BenchItem, Prediction
from training.ecgbench.loader import read_image
from training.ecgbench.parsing import OPTION_LINE, benchmark_code
from training.ecgbench.runners import arena_question
from training.ecgbench.subsets import SubsetSpec, subset_spec

__all__ = ["AgentRunner", "final_findings", "label_answer", "choice_answer", "item_answer"]

_LOW_QUALITY = "measurement_low_quality"
# Findings that leave a CODE-15 answer "NORM".
_NORMAL = SINUS | {"normal_axis", "normal_ecg"}


def _model_claims(report: GroundedReport) -> list:
    """Claims of the model's answers to the agent's own questions (re-query answers excluded)."""
    return [claim for turn in report.model_answers if turn.answer and not turn.purpose.startswith("requery")
            for claim in parse_claims(turn.answer) if claim.code or claim.label]


def final_findings(report: GroundedReport) -> set[str]:
    """The findings a report asserts in the end: vocabulary codes, or raw claim labels ("MI",
    "STTC", "ST elevation"...) for model findings outside the vocabulary. See the module docstring.

    Parameters
    ----------
    report : GroundedReport
        A report with ``measurements`` (rule 2); without them only model findings can count.
    """
    meas = report.measurements or {}
    rhythm = meas.get("rhythm") or {}
    measured = {rhythm.get("label")} | {s.get("code") for s in meas.get("statements") or [] if isinstance(s, dict)}
    resolution = {dispute.quantity: dispute.resolution for dispute in report.disputes}
    claims = _model_claims(report)
    denied = {claim.code or claim.label for claim in claims if claim.negated}
    affirmed = {claim.code or claim.label for claim in claims if not claim.negated}
    kept = {code for code in measured & set(LABELS) if not (code in denied and resolution.get(code) == _LOW_QUALITY)}
    return kept | {key for key in affirmed if resolution.get(key, _LOW_QUALITY) == _LOW_QUALITY}


def _classes(findings: set[str], spec: SubsetSpec) -> list[str]:
    # The harness's own code -> class mapping, so the scorer reads back exactly what was meant.
    found = {benchmark_code(SimpleNamespace(code=None, label=key), spec) for key in findings}
    return [label for label in spec.labels if label in found]


def label_answer(report: GroundedReport, model_answer: str | None, spec: SubsetSpec) -> str:
    """A label-list answer (``"AF; RBBB"``) for a multi-label subset (rule in the module docstring)."""
    if report.measurements is None:
        return model_answer or ""
    findings = final_findings(report)
    classes = _classes(findings, spec)
    if spec.name == "code15":
        classes = [label for label in classes if label != "NORM"]
        if not classes:
            return "ABNORMAL" if findings - _NORMAL else "NORM"
    return "; ".join(classes)


def choice_answer(report: GroundedReport, model_answer: str | None, question: str, letters: str) -> str:
    """The letter of the one option the report's final findings support, else the model's answer."""
    if report.measurements is None:
        return model_answer or ""
    findings = final_findings(report)
    supported = []
    for letter, option in OPTION_LINE.findall(question):
        keys = {claim.code or claim.label for claim in parse_claims(option) if not claim.negated}
        keys.discard(None)
        if letter in letters and keys and keys <= findings:
            supported.append(letter)
    return supported[0] if len(supported) == 1 else model_answer or ""


def item_answer(item: BenchItem, report: GroundedReport, followup: FollowUpAnswer) -> str:
    """The answer text ``item`` expects, derived from the agent's ``report`` and the ``followup``
    that answered the item's question (rules in the module docstring)."""
    spec = subset_spec(item.subset)
    if spec.kind == "multilabel":
        return label_answer(report, followup.model_answer, spec)
    if spec.kind == "mcq":
        return choice_answer(report, followup.model_answer, item.question, spec.letters)
    if spec.kind == "ecgqa" or report.measurements is None:
        return followup.model_answer if followup.model_answer is not None else followup.answer
    return followup.answer


class AgentRunner:
    """Answer benchmark items through :class:`agent.api.ECGAgent` with the given tool switches.

    Each item runs in its own short-lived agent (same configuration and model client, threads kept
    in memory) so that thousands of items do not pile up checkpointed threads.

    Parameters
    ----------
    agent : ECGAgent
        Supplies the configuration and the model client (it need not be opened).
    tools : ToolSwitches
        The configuration under test.
    label : str
        Name of the configuration, for the ``model_id`` field.

    Raises
    ------
    InputError
        If ``tools.mllm`` is on but the agent has no model client.
    """

    def __init__(self, agent: ECGAgent, tools: ToolSwitches, label: str = "agent") -> None:
        if tools.mllm and agent.mllm is None:
            raise InputError(f"configuration {label!r} uses the MLLM but the agent has no model client")
        self.config = agent.config.model_copy(update={"checkpoint_path": None})
        self.mllm = agent.mllm
        self.tools = tools
        self.label = label

    @property
    def name(self) -> str:
        """``ecg-agent[<configuration>]``, plus the model's name when the configuration uses it."""
        model = f"+{self.mllm.name}" if self.tools.mllm and self.mllm is not None else ""
        return f"ecg-agent[{self.label}]{model}"

    async def answer(self, item: BenchItem) -> Prediction:
        """Interpret the item's image with its (first) question; answer every turn.

        Raises
        ------
        InputError
            The image cannot be read, or the agent refused it.
        ModelUnavailableError, ModelResponseError
            The configuration uses the model and got no answer (see the module docstring).
        """
        image = read_image(item.image)
        start_s = time.perf_counter()
        history: list[tuple[str, str]] = []
        async with ECGAgent(self.config, self.mllm) as agent:
            report = await agent.interpret(image, item.question, name=item.image_path, tools=self.tools)
            if report.refused:
                raise InputError(f"item {item.id}: the agent refused the image: {report.refused}")
            followup = report.followups[-1]
            for number, turn in enumerate(item.turns):
                if number:
                    followup = await agent.ask(report.thread_id, arena_question(history, turn.question))
                self._require_model_answer(item, report, followup)
                history.append((turn.question, item_answer(item, report, followup)))
        answers = tuple(answer for _, answer in history)
        return Prediction(id=item.id, subset=item.subset, prompt=item.question, text=answers[-1],
                          turn_answers=answers, model=self.name, latency_s=time.perf_counter() - start_s)

    def _require_model_answer(self, item: BenchItem, report: GroundedReport, followup: FollowUpAnswer) -> None:
        if not self.tools.mllm or followup.model_answer is not None:
            return
        errors = [turn.error for turn in report.model_answers if turn.error]
        why = errors[0] if errors else followup.answer.splitlines()[-1]
        if not any(turn.answer for turn in report.model_answers):
            raise ModelUnavailableError(f"item {item.id}: no model call succeeded ({why})")
        raise ModelResponseError(f"item {item.id}: the model did not answer the item's question ({why})")
