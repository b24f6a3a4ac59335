"""The agent's sub-commands: ``demo``, ``interpret``, ``ask``, ``batch`` and ``serve``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

__all__ = ["add_demo", "add_interpret", "add_ask", "add_batch", "add_serve"]

_INPUT_HELP = "an ECG image (PNG, JPEG, BMP, TIFF, PDF) or record (.hea, .mat, .csv, .npz)"


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mllm", default="none", metavar="URL",
                        help="the PULSE model: http(s)://HOST:PORT/v1 (vllm serve, transformers serve), "
                             "hf:DIR (in-process), vllm:DIR, or none (default: none = tools only)")
    parser.add_argument("--tools", default="all", metavar="LIST",
                        help="tools to use: all, none, or a comma list of mllm,digitizer,measurement,crosscheck "
                             "(default: all)")
    parser.add_argument("--threads", type=Path, default=Path(".ecg-agent/threads.sqlite"), metavar="FILE",
                        help="SQLite file that keeps interpretations for follow-up questions "
                             "(default: .ecg-agent/threads.sqlite)")


def _agent(args: argparse.Namespace):
    from agent.api import ECGAgent
    from agent.config import AgentConfig, ToolSwitches
    from models.client import client_from_url

    tools = ToolSwitches.parse(args.tools)
    mllm = client_from_url(args.mllm) if tools.mllm else None
    return ECGAgent(AgentConfig(tools=tools, checkpoint_path=args.threads), mllm=mllm)


def _with_agent(args: argparse.Namespace, call):
    """Run ``await call(agent)`` with an opened agent; close the agent and its model client after."""
    async def run():
        agent = _agent(args)
        try:
            async with agent:
                return await call(agent)
        finally:
            if agent.mllm is not None:
                await agent.mllm.aclose()
    return asyncio.run(run())


# ---- interpret -------------------------------------------------------------------------------
def _write_report(report, fmt: str, output: Path | None) -> None:
    from agent.report_views import render_report
    text = render_report(report, fmt)  # type: ignore[arg-type]
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"report written to {output} (thread {report.thread_id})", file=sys.stderr)


def _run_interpret(args: argparse.Namespace) -> int:
    report = _with_agent(args, lambda agent: agent.interpret(args.input, args.question))
    _write_report(report, args.format, args.output)
    return 0


def add_interpret(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent interpret INPUT``."""
    parser = subparsers.add_parser(
        "interpret", help="interpret one ECG image or record into a grounded report",
        description="Digitize (images), measure, ask the MLLM, cross-check every claim and write a grounded "
                    "report. Without --mllm the report rests on the tools alone and says so.")
    parser.add_argument("input", type=Path, help=_INPUT_HELP)
    parser.add_argument("-q", "--question", help="a question to answer along with the report")
    parser.add_argument("--format", choices=("json", "md", "html"), default="md", help="report format (default: md)")
    parser.add_argument("-o", "--output", type=Path, help="write the report here instead of standard output")
    _model_options(parser)
    parser.set_defaults(run=_run_interpret)


# ---- ask -------------------------------------------------------------------------------------
def _run_ask(args: argparse.Namespace) -> int:
    answer = _with_agent(args, lambda agent: agent.ask(args.thread, args.question))
    print(answer.answer)
    return 0


def add_ask(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent ask THREAD QUESTION``."""
    parser = subparsers.add_parser("ask", help="ask a follow-up question about an interpreted ECG",
                                   description="Answer from the stored measurements (and the model, with --mllm) "
                                               "of a thread that `interpret` created.")
    parser.add_argument("thread", help="the thread id printed by `interpret` (also in the report JSON)")
    parser.add_argument("question", help='e.g. "why is the QTc flagged?"')
    _model_options(parser)
    parser.set_defaults(run=_run_ask)


# ---- batch -----------------------------------------------------------------------------------
def _batch_inputs(folder: Path) -> list[Path]:
    from tools.errors import InputError
    if not folder.is_dir():
        raise InputError(f"batch input {folder} is not a folder")
    image_suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pdf"}
    record_suffixes = {".hea", ".csv", ".npz"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in image_suffixes | record_suffixes)


def _done_sources(results: Path) -> set[str]:
    if not results.exists():
        return set()
    done = set()
    for line in results.read_text().splitlines():
        try:
            done.add(json.loads(line)["source"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by a crash: that input is redone
    return done


def _run_batch(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    inputs = _batch_inputs(args.folder)
    done = _done_sources(args.output)
    todo = [p for p in inputs if str(p) not in done]
    print(f"{len(inputs)} inputs, {len(done & {str(p) for p in inputs})} already done, {len(todo)} to do",
          file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)

    async def run(agent) -> int:
        failures = 0
        with Progress(transient=False) as progress, args.output.open("a") as sink:
            task = progress.add_task("interpreting", total=len(todo))
            async for result in agent.interpret_batch(todo, concurrency=args.concurrency):
                sink.write(json.dumps(result.model_dump(mode="json", exclude={"report": {"figures"}})) + "\n")
                sink.flush()  # a crash loses nothing already written
                failures += result.error is not None
                progress.advance(task)
        return failures

    failures = _with_agent(args, run)
    print(f"results in {args.output}; {failures} input(s) failed", file=sys.stderr)
    return 0


def add_batch(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent batch DIR -o results.jsonl``."""
    parser = subparsers.add_parser(
        "batch", help="interpret every ECG in a folder into a JSONL file (resumable)",
        description="One JSON line per input ({source, report | error}), written as each finishes. A re-run "
                    "skips inputs already in the output file, so an interrupted batch resumes where it stopped.")
    parser.add_argument("folder", type=Path, help="folder searched recursively for images and records")
    parser.add_argument("-o", "--output", type=Path, required=True, help="results file (.jsonl), appended to")
    parser.add_argument("--concurrency", type=int, default=2, help="inputs interpreted at once (default: 2)")
    _model_options(parser)
    parser.set_defaults(run=_run_batch)


# ---- serve -----------------------------------------------------------------------------------
def _run_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from agent.server import ServerConfig, create_app
    from tools.errors import InputError

    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise InputError(f"--api-key-env {args.api_key_env} is not set in the environment")
    agent = _agent(args)
    config = ServerConfig(max_upload_bytes=int(args.max_upload_mb * 2**20), api_key=api_key)
    uvicorn.run(create_app(agent, config), host=args.host, port=args.port, log_level="info")
    return 0


def add_serve(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent serve``."""
    parser = subparsers.add_parser(
        "serve", help="run the HTTP service (FastAPI): upload an ECG, get the report, ask follow-ups",
        description="Endpoints: POST /v1/interpret (multipart upload), POST /v1/interpret/stream (server-sent "
                    "progress events), POST /v1/threads/{id}/questions, GET /v1/threads/{id}, GET /health, "
                    "OpenAPI at /docs.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest accepted upload in MiB (default: 20)")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="require the API key held in this environment variable (header X-API-Key)")
    _model_options(parser)
    parser.set_defaults(run=_run_serve)


# ---- demo ------------------------------------------------------------------------------------
def _run_demo(args: argparse.Namespace) -> int:
    from agent.figures import encode_png
    from agent.report_views import render_report
    from tools.render import RenderConfig, render
    from tools.simulate import SimulationConfig, simulate

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    truth_config = SimulationConfig(fs_hz=500, seed=7, heart_rate_bpm=72, pr_ms=240, qrs_ms=140,
                                    rbbb=True, duration_s=10)
    simulation = simulate(truth_config)
    page = render(simulation.recording, RenderConfig())
    image_path = out / "demo_ecg.png"
    image_path.write_bytes(encode_png(page.image))
    print(f"simulated ECG (truth: {', '.join(simulation.truth.labels)}; PR {simulation.truth.pr_ms:.0f} ms, "
          f"QRS {simulation.truth.qrs_ms:.0f} ms, HR {simulation.truth.heart_rate_bpm:.0f} bpm) rendered to {image_path}")

    report = _with_agent(args, lambda agent: agent.interpret(image_path, "Is there a conduction abnormality?"))
    for fmt in ("json", "html", "md"):
        (out / f"demo_report.{fmt}").write_text(render_report(report, fmt))  # type: ignore[arg-type]
    print(report.summary)
    print(f"JSON report: {out / 'demo_report.json'}\nHTML report: {out / 'demo_report.html'}\n"
          f"Markdown:    {out / 'demo_report.md'}")
    return 0


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent demo``: the main job end to end on an embedded default."""
    parser = subparsers.add_parser(
        "demo", help="simulate an ECG with a known abnormality, render it, interpret it, write the reports",
        description="The main job end to end, no GPU or weights needed: a simulated 12-lead ECG with first-degree "
                    "AV block and RBBB is rendered as an ecg-image-kit-style page, digitized, measured and reported. "
                    "With --mllm URL the same run also asks a PULSE server and cross-checks its claims.")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    _model_options(parser)
    parser.set_defaults(run=_run_demo)
