"""Views of a GroundedReport: JSON, Markdown, and a self-contained HTML page.

The HTML page needs no network and no other file: pictures are embedded as base64 PNG, styles
are inline. A clinician reads it top to bottom: summary, warnings, measurement table, statements
with their source and evidence, disputes, the pictures (traced signal over the image, median beats
with fiducials), the per-lead matrix, the model's raw answers, then the audit trail.
"""

from __future__ import annotations

import html
import json
from typing import Literal

from agent.report import GroundedReport, Statement

__all__ = ["evidence_text", "render_report", "to_html", "to_markdown"]

Format = Literal["json", "md", "html"]
_SOURCE_COLOURS = {"measured": "#1b5e20", "agreed": "#0d47a1", "disputed": "#b71c1c", "model": "#6d4c41"}


def render_report(report: GroundedReport, fmt: Format) -> str:
    """The report as ``json`` (the schema'd object), ``md`` or ``html`` text."""
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r}")


def evidence_text(statement: Statement) -> str:
    """A statement's evidence on one line: leads; time window (s); values (3 significant digits); criterion."""
    ev = statement.evidence
    parts = []
    if ev.leads:
        parts.append("leads " + ", ".join(ev.leads))
    if ev.window_s:
        parts.append(f"{ev.window_s[0]:.2f}–{ev.window_s[1]:.2f} s")
    if ev.values:
        parts.append(", ".join(f"{k}={_fmt(v)}" for k, v in ev.values.items()))
    if ev.criteria:
        parts.append(ev.criteria)
    return "; ".join(parts)


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def _rows(report: GroundedReport) -> list[tuple[str, str, str]]:
    return [(m.name, "—" if m.value is None else f"{m.value:g} {m.unit}",
             m.not_measurable if m.value is None else m.method) for m in report.global_measurements]


def to_markdown(report: GroundedReport) -> str:
    """A Markdown report for terminals, tickets and notebooks."""
    out = [f"# ECG report — {report.input.name}", "", f"> {report.over_read}", "", report.summary, ""]
    if report.warnings:
        out += ["## Warnings", *[f"- {w}" for w in report.warnings], ""]
    if report.global_measurements:
        out += ["## Measurements", "| quantity | value | method |", "|---|---|---|",
                *[f"| {a} | {b} | {c} |" for a, b, c in _rows(report)], ""]
    if report.statements:
        out += ["## Statements", "| statement | source | confidence | evidence |", "|---|---|---|---|",
                *[f"| {s.text} | {s.source} | {s.confidence} | {evidence_text(s)} |" for s in report.statements], ""]
    if report.disputes:
        out += ["## Disputes", *[f"- **{d.claim}**: model {d.model_value}, measured {d.measured_value} "
                                 f"(tolerance {d.tolerance}) → {d.resolution}, shown as {d.final_source}"
                                 for d in report.disputes], ""]
    if report.followups:
        out += ["## Questions", *[f"**Q:** {f.question}\n\n{f.answer}\n" for f in report.followups], ""]
    if report.model_answers:
        out += ["## Model answers", *[f"- *{t.purpose}* ({t.model or 'no model'}): "
                                      f"{(t.answer or t.error or '').strip()}" for t in report.model_answers], ""]
    out += ["## Steps", *[f"- `{s.id}` {s.status} in {s.duration_s:.2f} s: {s.summary}"
                          + (f" ({s.error})" if s.error else "") for s in report.steps], ""]
    return "\n".join(out)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(source: str) -> str:
    return f'<span class="badge" style="background:{_SOURCE_COLOURS.get(source, "#555")}">{source}</span>'


def _figure(report: GroundedReport, name: str, caption: str) -> str:
    if name not in report.figures:
        return ""
    return (f'<figure><img alt="{html.escape(caption)}" src="{report.figures[name]}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ddd;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.92em}td,th{border:1px solid #ddd;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f5f5f5}.badge{color:#fff;border-radius:3px;padding:1px 6px;
font-size:.85em}.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.5em 1em}
.over{background:#fdecea;border-left:4px solid #b71c1c;padding:.5em 1em}figure{margin:1em 0}
img{max-width:100%;border:1px solid #ccc}figcaption{font-size:.85em;color:#555}
details{margin:.5em 0}pre{white-space:pre-wrap;background:#fafafa;padding:.5em}"""


def to_html(report: GroundedReport) -> str:
    """A self-contained HTML page (no external resources)."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>ECG report — {e(report.input.name)}</title>",
             f"<style>{_STYLE}</style></head><body>", f"<h1>ECG report — {e(report.input.name)}</h1>",
             f"<p class='over'>{e(report.over_read)}</p>", f"<p><strong>{e(report.summary)}</strong></p>"]
    if report.warnings:
        parts.append("<div class='warn'><ul>" + "".join(f"<li>{e(w)}</li>" for w in report.warnings) + "</ul></div>")
    if report.global_measurements:
        parts += ["<h2>Measurements</h2>", _table(["quantity", "value", "method"],
                                                  [[e(a), e(b), e(c or "")] for a, b, c in _rows(report)])]
    if report.statements:
        parts += ["<h2>Statements</h2>", _table(["statement", "source", "confidence", "evidence"], [
            [e(s.text), _badge(s.source), e(s.confidence), e(evidence_text(s))] for s in report.statements])]
    if report.disputes:
        parts += ["<h2>Disputes</h2>", _table(["model claim", "model", "measured", "tolerance", "resolution"], [
            [e(d.claim), e(str(d.model_value)), e(str(d.measured_value)), e(d.tolerance),
             f"{e(d.resolution)} → {_badge(d.final_source)}"] for d in report.disputes])]
    parts += ["<h2>Pictures</h2>", _figure(report, "overlay", "The traced signal (blue) over the source image"),
              _figure(report, "median_beats", "Median beats; P on/off orange, QRS on/off red, T end green")]
    if report.lead_matrix:
        columns = sorted({k for row in report.lead_matrix.values() for k in row})
        parts += ["<h2>Per-lead measurements</h2>", _table(["lead", *columns], [
            [e(lead), *[_cell(row.get(c)) for c in columns]]
            for lead, row in report.lead_matrix.items()])]
    if report.followups:
        parts.append("<h2>Questions</h2>" + "".join(
            f"<p><strong>Q: {e(f.question)}</strong></p><pre>{e(f.answer)}</pre>" for f in report.followups))
    if report.model_answers:
        parts.append("<h2>Model answers</h2>" + "".join(
            f"<details><summary>{e(t.purpose)} — {e(t.model or 'no model')}</summary><p><em>{e(t.question)}</em></p>"
            f"<pre>{e(t.answer or t.error or '')}</pre></details>" for t in report.model_answers))
    parts += ["<h2>Audit trail</h2>", _table(["step", "status", "s", "summary"], [
        [e(s.id), e(s.status), f"{s.duration_s:.2f}", e(s.summary + (f" ({s.error})" if s.error else ""))]
        for s in report.steps]), f"<p><small>{e(report.provenance.agent_version)} · model: "
              f"{e(report.provenance.model or 'none')} · {report.provenance.total_s:.2f} s</small></p>",
              "</body></html>"]
    return "\n".join(parts)
