"""The Python API: :class:`ECGAgent`.

::

    async with ECGAgent(AgentConfig(), mllm=client_from_url("http://gpu:8000/v1")) as agent:
        report = await agent.interpret("ecg.png", question="Is the QTc prolonged?")
        answer = await agent.ask(report.thread_id, "Which leads show ST elevation?")

    report = ECGAgent().interpret_sync("record.hea")          # no event loop needed

Threads are kept by a SQLite checkpointer (``AgentConfig.checkpoint_path``), so follow-ups work
across processes; ``checkpoint_path=None`` keeps them in memory for the agent's lifetime.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from agent.config import AgentConfig, ToolSwitches
from agent.context import AgentContext
from agent.graph import build_graph
from agent.report import FollowUpAnswer, GroundedReport
from agent.state import AgentInput
from models.client import MLLMClient
from tools.errors import ECGError, InputError
from tools.record_io import RECORD_SUFFIXES, read_record, recording_to_bytes
from tools.recording import Recording

__all__ = ["ECGAgent", "ProgressEvent", "BatchResult", "agent_input"]

T = TypeVar("T")
Source = str | Path | bytes | Recording


class ProgressEvent(BaseModel):
    """One streamed event: a node finished (with its step record) or the run ended."""

    thread_id: str
    node: str
    status: str
    summary: str
    elapsed_s: float


class BatchResult(BaseModel):
    """The outcome of one input of a batch: a report, or the reason there is none."""

    source: str
    report: GroundedReport | None = None
    error: str | None = None


def agent_input(source: Source, *, name: str | None = None) -> tuple[Literal["image", "record"], str, bytes]:
    """Classify and load an input: ``(kind, name, bytes)``; records become NPZ bytes.

    A path whose suffix is a record format (.hea, .dat, .mat, .csv, .npz) or that names a WFDB
    record is read with :func:`tools.record_io.read_record`; any other path or bytes is an image
    (validated later by the digitizer's loader). NPZ bytes are taken as a record.

    Raises
    ------
    InputError
        A missing file, or an unreadable record.
    """
    if isinstance(source, Recording):
        return "record", name or "recording", recording_to_bytes(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data[:4] == b"PK\x03\x04":
            return "record", name or "upload.npz", data
        return "image", name or "upload", data
    path = Path(source)
    if path.suffix.lower() in RECORD_SUFFIXES or (not path.suffix and path.with_suffix(".hea").exists()):
        return "record", name or path.name, recording_to_bytes(read_record(path))
    if not path.is_file():
        raise InputError(f"no such input file: {path}")
    return "image", name or path.name, path.read_bytes()


def _serializer():
    """Checkpoint serialiser that may restore exactly the state's own pydantic types."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    from agent import config, crosscheck, report
    allowed = [(report.__name__, name) for name in report.__all__ if isinstance(getattr(report, name), type)]
    allowed += [(crosscheck.__name__, "Check"), (config.__name__, "ToolSwitches")]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


class ECGAgent:
    """Interprets ECG images and records with the tools and, when given, the PULSE MLLM.

    Parameters
    ----------
    config : AgentConfig
        Tools, stage configs, tolerances, limits, timeouts and the checkpoint file.
    mllm : MLLMClient, optional
        The model client (see :func:`models.client.client_from_url`); None = tools only.
    """

    def __init__(self, config: AgentConfig | None = None, mllm: MLLMClient | None = None) -> None:
        self.config = config or AgentConfig()
        self.mllm = mllm
        self._stack: AsyncExitStack | None = None
        self._graph: Any = None

    # ---- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> ECGAgent:
        stack = AsyncExitStack()
        path = self.config.checkpoint_path
        if path is None:
            from langgraph.checkpoint.memory import InMemorySaver
            saver: Any = InMemorySaver(serde=_serializer())
        else:
            import aiosqlite
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(str(path))
            stack.push_async_callback(connection.close)
            saver = AsyncSqliteSaver(connection, serde=_serializer())
        self._graph = build_graph(self.config, saver)
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the checkpointer (the model client belongs to the caller)."""
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._graph = None, None

    def _require_open(self) -> Any:
        if self._graph is None:
            raise RuntimeError("use `async with ECGAgent(...) as agent:` (or the *_sync methods)")
        return self._graph

    def _run_config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 50}

    # ---- interpretation --------------------------------------------------------------------------
    async def stream(self, source: Source, question: str | None = None, *, name: str | None = None,
                     tools: ToolSwitches | None = None, thread_id: str | None = None
                     ) -> AsyncIterator[ProgressEvent | GroundedReport]:
        """Yield a ProgressEvent as each node finishes, then the GroundedReport."""
        graph = self._require_open()
        thread_id = thread_id or uuid.uuid4().hex
        config = self._run_config(thread_id)
        if (await graph.aget_state(config)).values:
            raise InputError(f"thread {thread_id!r} already holds an ECG; ask follow-ups with ask()")
        kind, label, data = agent_input(source, name=name)
        started = time.time()
        payload = AgentInput(kind=kind, name=label, data=data, question=question, tools=tools,
                             thread_id=thread_id, started_at=started)
        context = AgentContext(config=self.config, mllm=self.mllm)
        # durability="exit": one checkpoint write per run; a crashed run is simply redone.
        async for update in graph.astream(payload, config, context=context, stream_mode="updates", durability="exit"):
            for node, values in update.items():
                for step in (values or {}).get("steps", []) if isinstance(values, dict) else []:
                    yield ProgressEvent(thread_id=thread_id, node=node, status=step.status, summary=step.summary,
                                        elapsed_s=round(time.time() - started, 3))
        yield (await graph.aget_state(config)).values["report"]

    async def interpret(self, source: Source, question: str | None = None, *, name: str | None = None,
                        tools: ToolSwitches | None = None, thread_id: str | None = None) -> GroundedReport:
        """Interpret one ECG image or record; return the grounded report.

        Raises
        ------
        InputError
            The input cannot be read at all (missing file, unreadable record) or the thread exists.
            An image the digitizer refuses still gets a report that says why.
        """
        report = None
        async for item in self.stream(source, question, name=name, tools=tools, thread_id=thread_id):
            report = item
        assert isinstance(report, GroundedReport)
        return report

    async def ask(self, thread_id: str, question: str) -> FollowUpAnswer:
        """Answer a follow-up question on an interpreted ECG, from its stored measurements and the model."""
        graph = self._require_open()
        if not question or not question.strip():
            raise InputError("question must be a non-empty string")
        config = self._run_config(thread_id)
        state = (await graph.aget_state(config)).values
        if not state or state.get("report") is None:
            raise InputError(f"no interpreted ECG in thread {thread_id!r}")
        context = AgentContext(config=self.config, mllm=self.mllm)
        await graph.ainvoke(AgentInput(question=question), config, context=context, durability="exit")
        return (await graph.aget_state(config)).values["report"].followups[-1]

    async def report(self, thread_id: str) -> GroundedReport:
        """The stored report of a thread (with every follow-up so far)."""
        state = (await self._require_open().aget_state(self._run_config(thread_id))).values
        if not state or state.get("report") is None:
            raise InputError(f"no interpreted ECG in thread {thread_id!r}")
        return state["report"]

    async def interpret_batch(self, sources: Iterable[Source], *, concurrency: int = 2
                              ) -> AsyncIterator[BatchResult]:
        """Interpret many inputs with at most ``concurrency`` at once; yield results as they finish.

        A failing input yields a BatchResult with its error; the others go on.
        """
        if concurrency < 1:
            raise InputError(f"concurrency must be >= 1, got {concurrency}")
        limit = asyncio.Semaphore(concurrency)

        async def one(source: Source) -> BatchResult:
            async with limit:
                try:
                    return BatchResult(source=str(source), report=await self.interpret(source))
                except ECGError as exc:
                    return BatchResult(source=str(source), error=str(exc))

        for task in asyncio.as_completed([one(s) for s in sources]):
            yield await task

    # ---- synchronous wrappers ------------------------------------------------------------------
    def _sync(self, call: Callable[[ECGAgent], Awaitable[T]]) -> T:
        async def run() -> T:
            async with ECGAgent(self.config, self.mllm) as agent:
                return await call(agent)
        return asyncio.run(run())

    def interpret_sync(self, source: Source, question: str | None = None, **kwargs: Any) -> GroundedReport:
        """:meth:`interpret` for code without an event loop."""
        return self._sync(lambda agent: agent.interpret(source, question, **kwargs))

    def ask_sync(self, thread_id: str, question: str) -> FollowUpAnswer:
        """:meth:`ask` for code without an event loop."""
        return self._sync(lambda agent: agent.ask(thread_id, question))
