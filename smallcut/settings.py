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
from smallcut.options import SHADOW_MODES, Shadow  # noqa: F401 - one list of shadow modes for both sides


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _split_profiles(value: object) -> object:
    # profiles hold commas themselves (name=thumb,format=jpg): the list is ;-separated, each one checked
    from smallcut.profiles import parse_many

    if isinstance(value, str):
        value = [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, list):
        parse_many([str(v) for v in value])
    return value


# Comma-separated in the environment ("a,b"), a list in code.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]

# the engine's post-processing steps, in the order they run (workers/engine/engine.py)
PostStep = Literal["shadows", "open-holes", "smooth", "specks", "fill-holes", "edges", "bleed"]
POST_STEPS: tuple[str, ...] = get_args(PostStep)
# what happens to a product's shadow or reflection: dropped (background) or kept as a soft dark layer
ShadowMode = Shadow


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not echo the input, which holds the secrets
    model_config = SettingsConfigDict(env_prefix="SMALLCUT_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # --- Redis (status store) and Celery broker -------------------------------------------------
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Status store, and the Celery broker unless SMALLCUT_BROKER_URL is set; `rediss://` and passwords supported.")
    broker_url: SecretStr | None = Field(
        None, description="Celery broker; defaults to SMALLCUT_REDIS_URL. `amqp://` (RabbitMQ) works too.")
    # the server's certificate and host name are always verified; these only choose whom to trust
    redis_tls_ca_file: FilePath | None = Field(
        None, description="For `rediss://` URLs (status store, broker, API gauges): PEM of the CA that signed the "
                          "Redis server's certificate; default: the system CA store.")
    redis_tls_cert_file: FilePath | None = Field(
        None, description="Client certificate for mutual TLS (`tls-auth-clients yes`).")
    redis_tls_key_file: FilePath | None = Field(
        None, description="Key of the client certificate for mutual TLS.")

    # --- S3-compatible storage -----------------------------------------------------------------
    s3_endpoint_url: str | None = Field(
        None, description="MinIO, moto or any S3-compatible endpoint; default: AWS.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: SecretStr | None = Field(None, description="S3 access key; default: boto3's credential chain.")
    s3_secret_access_key: SecretStr | None = Field(
        None, description="S3 secret key; default: boto3's credential chain.")
    s3_addressing_style: str = Field("path", description="`path` for MinIO, `virtual` for AWS.")
    allowed_buckets: CsvList = Field(
        default_factory=list,
        description="Comma-separated allow-list of buckets; empty: any. Keys in other buckets are refused with a status.")
    out_prefix: str = Field(
        "cutouts", description="Output key = `<out-prefix>/<input key without extension>.png`.")
    output_bucket: str | None = Field(None, description="Where outputs go; default: the input's bucket.")

    # --- queues and workers --------------------------------------------------------------------
    gpu_queue: str = Field("gpu", description="Name of the queue GPU workers consume.")
    cpu_queue: str = Field("cpu", description="Name of the queue CPU workers consume.")
    queue: str = Field("cpu", description="Queue producers send work to by default.")
    concurrency: int = Field(
        0, description="Worker processes per `smallcut worker`. 0: auto, logged at start: on a CPU host one "
                       "single-threaded process per core with int8 (at most one per 1.5 GB of the container's "
                       "memory) or one with fp32; on a GPU host one per 2 cores, at most one per 8 GB of GPU memory.")
    chunk_size: int = Field(
        8, description="Keys per bulk task. A batch's last 2 × this many keys go one per task, so workers share "
                       "the tail instead of one finishing a full chunk alone.")
    soft_time_limit: int = Field(300, description="Seconds per task (0: none); past it the key fails with a reason.")
    time_limit: int = Field(
        360, description="Hard limit per task in seconds (0: none): the worker child is killed and the task's "
                         "unfinished keys fail with the reason.")
    visibility_timeout: int = Field(
        900, description="Seconds before the Redis broker redelivers a lost worker's messages; keep it above queue "
                         "wait + longest task + retry wait.")
    # transient errors are retried with exponential backoff until the time budget is spent, so an
    # outage of minutes ends in `done`, not in `failed` and a manual retry-failed
    max_retries: int = Field(
        30, description="Backstop on the tries of a transient S3/Redis error; the time budget "
                        "(SMALLCUT_RETRY_BUDGET) normally ends retrying first. Then the key is `failed` and goes to "
                        "the dead-letter list.")
    retry_budget: int = Field(
        600, description="Seconds since a key's first try during which transient errors are retried "
                         "(docs/operations.md); then the key fails with the reason.")
    status_ttl: int = Field(7 * 24 * 3600, description="Seconds a status hash lives (default: 7 days).")
    retry_backoff: float = Field(
        2.0, description="Seconds before the first retry of a transient error; doubles each time, with jitter.")
    retry_backoff_max: int = Field(120, description="Longest wait between retries, seconds.")
    lease_ttl: int = Field(
        20, description="A worker renews a lease on each job it runs every lease_ttl/4 s; a job whose lease is not "
                        "renewed for this many seconds (its worker crashed or lost Redis) has its unfinished keys "
                        "requeued (docs/operations.md).")
    reap_interval: float = Field(5.0, description="Seconds between each worker process's checks for expired leases.")
    engine_batch: int = Field(
        0, description="Keys of a chunk whose coarse passes run as one network batch; 0: 4 on a GPU, 1 on the CPU.")
    io_threads: int = Field(
        3, description="Threads per worker process for downloads and uploads, which overlap with compute.")

    # --- model and runtime ---------------------------------------------------------------------
    model: str = Field(
        "u2netp", description="Model name in the registry (`smallcut models list`): `u2netp`, `u2net` (drop-in), "
                              "`u2netp_cbam`, `u2netp_fpn` (retrained, shipped in the package under `workers/engine/weights/`).")
    model_path: Path | None = Field(None, description="An explicit `.onnx` file; skips the registry.")
    close_model: str = Field(
        "", description="A registry model for the close passes only (detection tiles and zooms); the coarse pass over "
                        "the whole frame keeps `model`. Empty: `model` runs every pass. For retrained networks meant "
                        "for those passes (docs/training.md, \"A network for the close passes\").")
    close_model_path: Path | None = Field(None, description="An explicit `.onnx` file for the close passes.")
    model_dir: Path = Field(Path.home() / ".cache" / "smallcut" / "models", description="Model cache.")
    providers: CsvList = Field(
        default_factory=lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        description="ONNX Runtime providers in order of preference; missing ones are skipped and the choice is logged.")
    intra_op_threads: int = Field(0, description="ONNX Runtime threads per process; 0: cores / concurrency.")
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto",
        description="`auto`: int8 where the network runs on the CPU, fp32 where a GPU provider is available (fp32 "
                    "with a warning if no int8 build can be made). `int8`: a checked int8 copy of the model, built on "
                    "first use from activation ranges shipped with the package or by `smallcut models quantize "
                    "--images DIR`; CPU only; fails loudly if it cannot be built. `fp32`: the published network as "
                    "is. `fp16`: a float16 copy for GPUs, converted on first use. Quality and speed of each: "
                    "docs/benchmarks.md.")
    trt_cache_dir: Path = Field(
        Path.home() / ".cache" / "smallcut" / "trt", description="TensorRT engine cache (mount a volume).")
    session_per_shape: bool = Field(
        True, description="On a GPU, one ONNX Runtime session per input shape, all on one shared GPU arena: CUDA "
                          "convolutions re-plan whenever a session sees a new shape (docs/gpu.md). Ignored on the CPU.")
    cpu_arena: Literal["coarse", "all", "off"] = Field(
        "coarse",
        description="ONNX Runtime's CPU memory arena. `coarse`: the steady 320² pass keeps a session and arena of "
                    "its own, tiles and zooms run on a second session without one, so the frame after a detection "
                    "frame does not fault the coarse pass's buffers in again (faster, ≈ 400 MB more resident memory "
                    "per process). `all`: one session whose arena is shrunk after every tile or zoom batch. `off`: "
                    "no arena. Ignored on a GPU.")

    # --- engine defaults -----------------------------------------------------------------------
    roi: bool = Field(
        True, description="Worker default for queued work that does not choose (`enqueue` without `--no-roi`, S3 "
                          "events): run the detection and zoomed passes that find small objects.")
    postprocess: bool = Field(
        True, description="Worker default for queued work that does not choose (`enqueue` without "
                          "`--no-postprocess`, S3 events): post-process the matte after the network passes.")
    shadow: ShadowMode = Field(
        "remove", description="Worker default for queued work that does not choose: `remove` drops a product's "
                              "shadow and reflection (background), `keep` keeps its shadow as a soft dark layer in "
                              "the alpha (`cutout`/`enqueue --shadow`, API `shadow`).")
    profiles: Annotated[list[str], NoDecode, BeforeValidator(_split_profiles)] = Field(
        default_factory=list,
        description="Output profiles for work that does not choose (`cutout`/`enqueue` without `--profile`, S3 "
                    "events, the API without `profile`), `;`-separated: presets (`default`, `amazon-main`, "
                    "`shopify-square`, `transparent-png`, `mask`, `zip`) or fields (`name=thumb,format=jpg,scale=80%`); "
                    "empty: `default`, the engine's PNG at `<out-prefix>/<key>.png` (docs/profiles.md).")
    png_encoder: str = Field("fpng", description="`fpng` (fast, larger files), `opencv` or `pil` (small, slow).")
    detection: Literal["auto", "always", "never"] = Field(
        "auto",
        description="`auto`: the tiled detection pass where the coarse pass shows no large confident object, and "
                    "beside one where a small learned gate expects small pieces (a catalog shot, not a photo). "
                    "`always`: on every frame; also finds small objects beside a large subject the gate lets go, slower "
                    "(`cutout --detect-always`). `never`: on no frame, for runs of one product per frame.")
    max_pixels: int = Field(120_000_000, description="Decompression-bomb guard, checked from the image header.")
    keep_freed_memory: bool = Field(
        True, description="glibc: large arrays served from the heap and freed memory kept for the next frame "
                          "instead of fresh page-faulting mmaps; faster per frame for ≈ 50 MB more resident memory "
                          "per process (workers/engine/alloc.py).")
    post_steps: Annotated[list[PostStep], NoDecode, BeforeValidator(_split_csv)] = Field(
        default_factory=lambda: list(POST_STEPS),
        description="Post-processing steps that run when post-processing is on: a comma-separated subset, "
                    "in any order (`cutout --post-steps`). Each step is described in docs/engine.md.")
    max_input_bytes: int = Field(200 * 1024 * 1024, description="Larger objects fail with a reason (default: 200 MiB).")
    image_memory_budget: int = Field(
        1_000_000_000, description="An image whose cut-out is estimated (from its header) above this many bytes waits "
                                   "for the host's one large-image slot, so several big frames at once cannot exhaust "
                                   "the node's memory; 0: no gate (docs/operations.md).")

    # --- event receiver and API ----------------------------------------------------------------
    events_token: SecretStr | None = Field(
        None, description="Bearer token of `POST /events`; required when the receiver binds off loopback.")
    events_max_body: int = Field(1024 * 1024, description="Largest event body in bytes; 413 above (default: 1 MiB).")
    events_redis_key: str | None = Field(
        None, description="Redis list fed by MinIO's Redis notification target (format `access`) to consume.")
    events_dedupe_ttl: int = Field(
        24 * 3600, description="Seconds a repeated event for the same object version is ignored (default: 1 day).")
    api_token: SecretStr | None = Field(
        None, description="Bearer token of `smallcut api`; required when the API binds off loopback.")
    api_max_body: int = Field(
        32 * 1024 * 1024, description="Request body limit of `smallcut api` in bytes; 413 above (default: 32 MiB).")
    api_cutout_timeout: float = Field(
        60.0, description="Seconds `POST /v1/cutout` waits for the worker before answering 504 with the status URL.")
    api_scratch: str | None = Field(
        None, description="`s3://bucket/prefix` for `POST /v1/cutout` uploads; default: the first allowed bucket, "
                          "prefix `_api`.")
    api_preview_px: int = Field(256, description="Longest side of the review page's thumbnails, pixels.")
    # fetching by URL would let callers reach internal addresses through the API: off unless hosts are listed
    api_fetch_hosts: CsvList = Field(
        default_factory=list,
        description="Hosts `GET /api/remove?url=` may fetch images from (exact names; `.example.com`: that domain and "
                    "its subdomains). Empty: fetching by URL is off.")
    api_fetch_max_bytes: int = Field(20 * 1024 * 1024, description="Largest image `GET /api/remove?url=` fetches (413 above).")
    api_fetch_timeout: float = Field(15.0, description="Seconds for a whole URL fetch, redirects included (504 above).")
    metrics_port: int = Field(0, description="Port of each worker's Prometheus `/metrics`; 0: off.")
    log_json: bool = Field(
        False, description="One JSON object per log line: `ts`, `level`, `logger`, `msg`, and per finished key "
                           "`batch`, `key`, `task_id`, `state`, `worker`, `timings` (ms per stage), `error`; "
                           "URL credentials masked.")

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
