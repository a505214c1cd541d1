"""The smallcut engine: importable without Celery or S3."""

from .codec import DecodeError
from .engine import CutoutOptions, CutoutResult, Engine, EngineConfig, parse_color

__all__ = ["CutoutOptions", "CutoutResult", "DecodeError", "Engine", "EngineConfig", "parse_color"]
