"""The HTTP service (FastAPI): upload an ECG, get the grounded report, ask follow-ups.

Endpoints (OpenAPI at ``/docs`` and ``/openapi.json``):

- ``POST /v1/interpret`` multipart ``file`` (+ ``question``, ``tools``; ``?format=json|md|html``) -> report
- ``POST /v1/interpret/stream`` the same, answered as server-sent events: ``progress`` per node, then ``report``
- ``GET /v1/threads/{thread_id}`` -> the stored report (with its follow-ups)
- ``POST /v1/threads/{thread_id}/questions`` JSON ``{"question": ...}`` -> the answer
- ``GET /health`` -> status and whether a model is configured

Client errors are 4xx with a one-line ``detail``: 401 bad API key, 404 unknown thread, 413 upload
too large, 415 unsupported file type, 422 an input the agent refused (the report says why).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    UploadFile,
)
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from agent.api import ECGAgent
from agent.config import ToolSwitches
from agent.report import FollowUpAnswer, GroundedReport
from agent.report_views import render_report
from tools.config import FrozenConfig
from tools.errors import ECGError, InputError

__all__ = ["ServerConfig", "create_app", "sniff_upload"]

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image"), (b"\xff\xd8\xff", "image"), (b"BM", "image"),
          (b"II*\x00", "image"), (b"MM\x00*", "image"), (b"%PDF", "image"), (b"PK\x03\x04", "record"))


class ServerConfig(FrozenConfig):
    """Limits and access control of the HTTP service."""

    max_upload_bytes: int = Field(20 * 2**20, gt=0, description="largest accepted upload (bytes)")
    api_key: str | None = Field(None, description="when set, every /v1 request needs header X-API-Key")


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=2000)


def sniff_upload(data: bytes, filename: str) -> str:
    """``"image"`` or ``"record"`` from the upload's magic bytes (CSV by name); else HTTP 415."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if filename.lower().endswith(".csv"):
        return "record"
    raise HTTPException(415, f"unsupported upload {filename!r}: expected PNG, JPEG, BMP, TIFF, PDF, NPZ or CSV")


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than the {limit}-byte limit")
    if not data:
        raise HTTPException(400, "the uploaded file is empty")
    return data


def create_app(agent: ECGAgent, config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI application serving ``agent`` (opened on startup, closed on shutdown)."""
    config = config or ServerConfig()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with agent:
            yield
        if agent.mllm is not None:
            await agent.mllm.aclose()

    app = FastAPI(title="ecg-agent", version="1", lifespan=lifespan,
                  description="Grounded ECG interpretation: digitization, measurement, PULSE, claim cross-check.")

    def check_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if config.api_key is not None and x_api_key != config.api_key:
            raise HTTPException(401, "missing or wrong X-API-Key header")

    async def upload_input(file: UploadFile, tools: str | None) -> tuple[str, bytes, ToolSwitches | None]:
        data = await _read_limited(file, config.max_upload_bytes)
        name = file.filename or "upload"
        kind = sniff_upload(data, name)
        if kind == "record" and name.lower().endswith(".csv"):
            raise HTTPException(415, "CSV records need a sampling rate: upload NPZ (tools.record_io) instead")
        try:
            switches = ToolSwitches.parse(tools) if tools else None
        except InputError as exc:
            raise HTTPException(400, str(exc)) from None
        return name, data, switches

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "model": agent.mllm.name if agent.mllm is not None else None}

    @app.post("/v1/interpret", dependencies=[Depends(check_key)], response_model=None)
    async def interpret(file: Annotated[UploadFile, File(description="ECG image or NPZ record")],
                        question: Annotated[str | None, Form()] = None, tools: Annotated[str | None, Form()] = None,
                        format: Literal["json", "md", "html"] = Query("json")):
        name, data, switches = await upload_input(file, tools)
        try:
            report = await agent.interpret(data, question, name=name, tools=switches)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        if report.refused:
            raise HTTPException(422, f"input refused: {report.refused}")
        if format == "html":
            return HTMLResponse(render_report(report, "html"))
        if format == "md":
            return PlainTextResponse(render_report(report, "md"), media_type="text/markdown")
        return report

    @app.post("/v1/interpret/stream", dependencies=[Depends(check_key)])
    async def interpret_stream(file: Annotated[UploadFile, File()], question: Annotated[str | None, Form()] = None,
                               tools: Annotated[str | None, Form()] = None) -> StreamingResponse:
        name, data, switches = await upload_input(file, tools)

        async def events() -> AsyncIterator[str]:
            try:
                async for item in agent.stream(data, question, name=name, tools=switches):
                    kind = "report" if isinstance(item, GroundedReport) else "progress"
                    yield f"event: {kind}\ndata: {item.model_dump_json()}\n\n"
            except ECGError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/threads/{thread_id}", dependencies=[Depends(check_key)])
    async def get_thread(thread_id: str) -> GroundedReport:
        try:
            return await agent.report(thread_id)
        except InputError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/v1/threads/{thread_id}/questions", dependencies=[Depends(check_key)])
    async def ask(thread_id: str, body: Question) -> FollowUpAnswer:
        try:
            return await agent.ask(thread_id, body.question)
        except InputError as exc:
            raise HTTPException(404, str(exc)) from None

    return app
