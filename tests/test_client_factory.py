"""client_from_url: which client each designation builds, and what it refuses."""

from __future__ import annotations

import pytest

import models.client as client_module
from models.client import MLLMClient, client_from_url
from models.client_openai import OpenAIClient
from models.client_vllm import vllm_available
from models.errors import CheckpointError, ModelUnavailableError
from tools.errors import InputError


@pytest.mark.parametrize("spec", ["none", "None", " NONE "])
def test_none_means_tools_only(spec):
    assert client_from_url(spec) is None


def test_none_with_options_is_refused():
    with pytest.raises(InputError, match="make no sense"):
        client_from_url("none", model="x")


async def test_http_url_builds_an_openai_client_with_the_options():
    client = client_from_url("http://127.0.0.1:8000/v1", model="pulse", timeout_s=5, max_retries=0)
    assert isinstance(client, OpenAIClient) and isinstance(client, MLLMClient)
    assert (client.config.base_url, client.config.model, client.config.timeout_s, client.config.max_retries) == \
        ("http://127.0.0.1:8000", "pulse", 5.0, 0)
    assert client.name == "pulse@http://127.0.0.1:8000"
    await client.aclose()


@pytest.mark.parametrize(("options", "message"), [({"timeout_s": -1}, "timeout_s"), ({"colour": "red"}, "colour")])
def test_bad_options_are_input_errors_naming_the_option(options, message):
    with pytest.raises(InputError, match=message):
        client_from_url("http://127.0.0.1:8000", **options)


@pytest.mark.parametrize("spec", ["", "ftp://h:1", "grpc:pulse", "localhost:8000", "pulse-7b"])
def test_unknown_designations_are_refused(spec):
    with pytest.raises(InputError, match="not understood"):
        client_from_url(spec)


@pytest.mark.parametrize("scheme", ["hf", "vllm"])
def test_missing_model_directory_is_refused(tmp_path, scheme):
    with pytest.raises(InputError, match="does not exist"):
        client_from_url(f"{scheme}:{tmp_path / 'absent'}")
    with pytest.raises(InputError, match="does not exist"):
        client_from_url(f"{scheme}:")


def test_hf_directory_that_is_not_a_model_is_a_checkpoint_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a loadable"):
        client_from_url(f"hf:{tmp_path}", device="cpu")


@pytest.mark.skipif(vllm_available(), reason="checks the behaviour where vllm is absent")
def test_vllm_without_the_package_is_unavailable(tmp_path):
    with pytest.raises(ModelUnavailableError, match="vllm"):
        client_from_url(f"vllm:{tmp_path}")


async def test_hf_directory_builds_an_in_process_client(tiny_hf_dir):
    from models.client_transformers import TransformersClient

    client = client_from_url(f"hf:{tiny_hf_dir}", device="cpu", max_batch_size=3)
    assert isinstance(client, TransformersClient) and isinstance(client, MLLMClient)
    assert (client.config.max_batch_size, client.device, str(client.dtype)) == (3, "cpu", "torch.float32")
    await client.aclose()


def test_all_is_complete():
    public = {name for name, value in vars(client_module).items()
              if not name.startswith("_") and getattr(value, "__module__", None) == client_module.__name__}
    assert public <= set(client_module.__all__)
