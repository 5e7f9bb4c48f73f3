"""A local OpenAI-compatible server (OpenAI and Azure OpenAI paths) for tests and demos without a key."""

from lab.training.fake_openai.app import create_fake_openai_app
from lab.training.fake_openai.errors import ApiError
from lab.training.fake_openai.server import RunningFake, serve_fake_openai, serve_forever
from lab.training.fake_openai.state import FakeOpenAI, Fault

__all__ = [
    "ApiError",
    "FakeOpenAI",
    "Fault",
    "RunningFake",
    "create_fake_openai_app",
    "serve_fake_openai",
    "serve_forever",
]
