"""Typed settings for every smallcut process, read once from the environment (prefix SMALLCUT_) or .env.

One model for producer, worker, API and engine so a fleet is configured by env vars alone.
Secrets are SecretStr: they never appear in repr() or logs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from smallcut import redisconn


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# Comma-separated in the environment ("a,b"), a list in code.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]

# the engine's post-processing steps, in the order they run (workers/engine/engine.py)
PostStep = Literal["open-holes", "smooth", "specks", "fill-holes", "edges", "bleed"]
POST_STEPS: tuple[str, ...] = get_args(PostStep)


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not echo the input, which holds the secrets
    model_config = SettingsConfigDict(env_prefix="SMALLCUT_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # --- Redis (status store) and Celery broker -------------------------------------------------
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    broker_url: SecretStr | None = None  # defaults to redis_url; amqp:// works too
    # for rediss:// URLs (status store and broker): the CA that signed the server's certificate (default:
    # the system store) and, for mutual TLS, this client's certificate and key. The server's certificate
    # and host name are always verified.
    redis_tls_ca_file: FilePath | None = None
    redis_tls_cert_file: FilePath | None = None
    redis_tls_key_file: FilePath | None = None

    # --- S3-compatible storage -----------------------------------------------------------------
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: str = "path"
    allowed_buckets: CsvList = Field(default_factory=list)  # empty: any bucket
    out_prefix: str = "cutouts"
    output_bucket: str | None = None  # default: same bucket as the input

    # --- queues and workers --------------------------------------------------------------------
    gpu_queue: str = "gpu"
    cpu_queue: str = "cpu"
    queue: str = "cpu"  # where producers send work by default
    concurrency: int = 0  # worker processes; 0: auto (1 on a CPU host; on a GPU host 1 per 2 cores, ≤ 1 per 8 GB)
    chunk_size: int = 8  # keys per bulk task
    soft_time_limit: int = 300
    time_limit: int = 360
    visibility_timeout: int = 900  # > queue wait + longest task + retry countdown
    # transient errors (S3 throttling or down, Redis blips) are retried with exponential backoff
    # (retry_backoff s, doubling, capped at retry_backoff_max, with jitter) until retry_budget s have
    # passed since the first try, then the key fails; max_retries is a backstop on the number of tries
    max_retries: int = 30
    retry_budget: int = 600
    status_ttl: int = 7 * 24 * 3600
    retry_backoff: float = 2.0  # seconds before the first retry of a transient error; doubles, with jitter
    retry_backoff_max: int = 120
    # a worker renews a lease on each job it runs every lease_ttl/4 s; a job whose lease is not
    # renewed for lease_ttl s (its worker crashed, or lost Redis) has its unfinished keys requeued by
    # the reaper that every worker process runs every ~reap_interval s (docs/operations.md)
    lease_ttl: int = 20
    reap_interval: float = 5.0
    engine_batch: int = 0  # keys of a chunk whose coarse passes run as one batch; 0: 4 on GPU, 1 on CPU
    io_threads: int = 3  # per worker process: downloads and uploads overlap with compute

    # --- model and runtime ---------------------------------------------------------------------
    model: str = "u2netp"
    model_path: Path | None = None  # explicit .onnx, skips the registry
    model_dir: Path = Path.home() / ".cache" / "smallcut" / "models"
    providers: CsvList = Field(
        default_factory=lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    intra_op_threads: int = 0  # 0: all cores of this process's share
    # auto: int8 where the network runs on the CPU, fp32 where a GPU provider is available. int8: a
    # checked int8 copy of the model (built on first use from ranges measured on real photos, or by
    # `smallcut models quantize --images DIR`): 1.3-1.9x faster per pass on x86 CPUs, within 0.01 IoU
    # of fp32 (README "Speed"); CPU only. fp32: the published network as is. fp16: a float16 copy
    # (converted on first use) for GPUs; slower than fp32 on a CPU
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    trt_cache_dir: Path = Path.home() / ".cache" / "smallcut" / "trt"
    # GPU: one ONNX Runtime session per input shape (README "GPU"); ignored on the CPU
    session_per_shape: bool = True
    # ONNX Runtime's CPU memory arena. coarse: the steady 320² pass has a session and arena of its
    # own; tiles and zooms run on a second session without an arena (glibc keeps their freed memory,
    # keep_freed_memory): 4-10 % more catalog frames/s in three bench.ab runs, ≈ 400 MB more resident
    # memory per process. all: one session whose arena is shrunk after every tile or zoom batch,
    # which frees the coarse pass's buffers too: the frame after a detection frame allocates them
    # again (≈ +100 ms). off: one session, no arena. Ignored on a GPU.
    cpu_arena: Literal["coarse", "all", "off"] = "coarse"

    # --- engine defaults -----------------------------------------------------------------------
    roi: bool = True
    postprocess: bool = True
    png_encoder: str = "fpng"  # fpng (fast, larger) | opencv | pil (small, slow)
    # auto: tiled detection only where the coarse pass shows no large confident object; always: on
    # every frame (finds small objects beside a large subject, ~1/3 slower on such sets); never: not
    # at all (runs of one product per frame: medium-sized subjects no longer pay for a search)
    detection: Literal["auto", "always", "never"] = "auto"
    max_pixels: int = 120_000_000  # decompression-bomb guard
    # glibc: large arrays from the heap, freed memory kept for the next frame (≈ 8 % faster per
    # catalog frame, ≈ 50 MB more resident memory per process: bench.ab; workers/engine/alloc.py)
    keep_freed_memory: bool = True
    # post-processing steps that run when post-processing is on (a subset of POST_STEPS, any order)
    post_steps: Annotated[list[PostStep], NoDecode, BeforeValidator(_split_csv)] = Field(default_factory=lambda: list(POST_STEPS))
    max_input_bytes: int = 200 * 1024 * 1024
    # an image whose cutout is estimated (from its header: pixels x smallcut.imagesize's measured
    # bytes per pixel) above this many bytes waits for the host's one large-image slot, so several
    # big frames at once cannot exhaust the node's memory; 0: no gate (docs/operations.md)
    image_memory_budget: int = 1_000_000_000

    # --- event receiver and API ----------------------------------------------------------------
    events_token: SecretStr | None = None
    events_max_body: int = 1024 * 1024
    events_redis_key: str | None = None  # list fed by MinIO's Redis notification target (format=access)
    events_dedupe_ttl: int = 24 * 3600  # a repeated event for the same object version is ignored this long
    api_token: SecretStr | None = None
    api_max_body: int = 32 * 1024 * 1024  # request body limit of `smallcut api` (413 above)
    api_cutout_timeout: float = 60.0  # POST /v1/cutout waits this long for the worker, then answers 504
    api_scratch: str | None = None  # s3://bucket/prefix for POST /v1/cutout uploads (default: first allowed bucket, _api)
    api_preview_px: int = 256  # longest side of the review page's thumbnails
    metrics_port: int = 0  # 0: no worker metrics endpoint
    log_json: bool = False  # one JSON object per log line (batch, key, task id, timings)

    @model_validator(mode="after")
    def _tls_files_need_rediss(self) -> "Settings":
        # a CA file next to a redis:// URL would silently mean plaintext: refuse the mix instead
        tls_files = self.redis_tls_ca_file or self.redis_tls_cert_file or self.redis_tls_key_file
        if tls_files and not any(redisconn.is_tls(u) for u in (self.redis_url.get_secret_value(), self.broker)):
            raise ValueError("SMALLCUT_REDIS_TLS_* files are set but neither SMALLCUT_REDIS_URL nor "
                             "SMALLCUT_BROKER_URL is rediss://")
        if self.redis_tls_key_file and not self.redis_tls_cert_file:
            raise ValueError("SMALLCUT_REDIS_TLS_KEY_FILE needs SMALLCUT_REDIS_TLS_CERT_FILE")
        return self

    @property
    def broker(self) -> str:
        return (self.broker_url or self.redis_url).get_secret_value()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process; cached so every module sees one object."""
    return Settings()
