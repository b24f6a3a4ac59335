"""The HTTP service: a real uvicorn server on loopback, real uploads, real agent (tools only)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from agent.api import ECGAgent
from agent.config import AgentConfig
from agent.figures import encode_png
from agent.server import ServerConfig, create_app
from tests.loopback import serve_app
from tools.record_io import recording_to_bytes
from tools.render import RenderConfig, render
from tools.simulate import SimulationConfig, simulate

API_KEY = "test-key-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Run the service on a free loopback port in a thread; yield its base URL."""
    agent = ECGAgent(AgentConfig(checkpoint_path=tmp_path_factory.mktemp("srv") / "threads.sqlite"))
    app = create_app(agent, ServerConfig(max_upload_bytes=8 * 2**20, api_key=API_KEY))
    with serve_app(app, what="the HTTP service", lifespan="on") as base:
        yield base


@pytest.fixture(scope="module")
def sim():
    return simulate(SimulationConfig(fs_hz=500, seed=21, heart_rate_bpm=64))


@pytest.fixture(scope="module")
def page_png(sim) -> bytes:
    return encode_png(render(sim.recording, RenderConfig()).image)


def _post(base: str, data: bytes, name: str, key: str | None = API_KEY, **fields):
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{base}/v1/interpret", files={"file": (name, data)}, data=fields, headers=headers,
                      timeout=60)


def test_health_and_openapi(server):
    assert httpx.get(f"{server}/health").json() == {"status": "ok", "model": None}
    spec = httpx.get(f"{server}/openapi.json").json()
    assert "/v1/interpret" in spec["paths"] and "/v1/threads/{thread_id}/questions" in spec["paths"]


def test_image_upload_returns_the_grounded_report_and_follow_ups_work(server, page_png, sim):
    response = _post(server, page_png, "ecg.png", question="What is the rhythm?")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["input"]["kind"] == "image" and report["measurements"]["rhythm"]["label"] == "sinus_rhythm"
    assert abs(report["measurements"]["global"]["heart_rate_bpm"] - sim.truth.heart_rate_bpm) < 3
    assert report["followups"][0]["question"] == "What is the rhythm?"
    thread = report["thread_id"]
    answer = httpx.post(f"{server}/v1/threads/{thread}/questions", json={"question": "Why is the QTc flagged?"},
                        headers={"X-API-Key": API_KEY}, timeout=30)
    assert answer.status_code == 200 and "qt" in answer.json()["answer"].lower()
    stored = httpx.get(f"{server}/v1/threads/{thread}", headers={"X-API-Key": API_KEY}).json()
    assert len(stored["followups"]) == 2


def test_record_upload_and_html_format(server, sim):
    response = _post(server, recording_to_bytes(sim.recording), "ecg.npz", format="html")
    assert response.status_code == 200
    response = httpx.post(f"{server}/v1/interpret?format=html", files={"file": ("ecg.npz", recording_to_bytes(sim.recording))},
                          headers={"X-API-Key": API_KEY}, timeout=60)
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text and "over-read by a physician" in response.text


def test_progress_is_streamed_as_server_sent_events(server, sim):
    with httpx.stream("POST", f"{server}/v1/interpret/stream", files={"file": ("ecg.npz", recording_to_bytes(sim.recording))},
                      headers={"X-API-Key": API_KEY}, timeout=60) as response:
        text = "".join(response.iter_text())
    events = [block.split("\n")[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
    assert events[0] == "progress" and events[-1] == "report"
    last = json.loads(text.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert last["measurements"]["rhythm"]["label"] == "sinus_rhythm"


@pytest.mark.parametrize("data, name, key, status, words", [
    (b"hello, I am text", "notes.txt", API_KEY, 415, "unsupported upload"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png", API_KEY, 422, "refused"),
    (b"", "empty.png", API_KEY, 400, "empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * (9 * 2**20), "huge.png", API_KEY, 413, "limit"),
    (b"\x89PNG\r\n\x1a\n", "ecg.png", None, 401, "X-API-Key"),
    (b"\x89PNG\r\n\x1a\n", "ecg.png", "wrong", 401, "X-API-Key"),
])
def test_client_errors_are_4xx_with_a_reason(server, data, name, key, status, words):
    response = _post(server, data, name, key=key)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_unknown_thread_and_bad_tools_are_client_errors(server, sim):
    missing = httpx.get(f"{server}/v1/threads/nope", headers={"X-API-Key": API_KEY})
    assert missing.status_code == 404
    bad = _post(server, recording_to_bytes(sim.recording), "ecg.npz", tools="digitizer,telepathy")
    assert bad.status_code == 400 and "telepathy" in bad.json()["detail"]


def test_twenty_simultaneous_requests(server, sim):
    payload = recording_to_bytes(sim.recording)

    async def run():
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(client.post(f"{server}/v1/interpret", files={"file": ("r.npz", payload)},
                                                      headers={"X-API-Key": API_KEY}) for _ in range(20)))
    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["thread_id"] for r in responses}) == 20
