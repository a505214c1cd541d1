"""The job: what one task carries from a producer to a worker, as one typed model.

Every producer (enqueue, the event intake, the API's cut-out and batch routes, retry-failed) and the
worker's own resends (a retry, the lease reaper's requeue) build a `Job` here and send
`job.to_message()`; the worker reads it back with `Job.from_message()`. Fields left at their default
are not written, so a message says only what its producer chose, and messages written before this
model (a single `key`, `options: null`) still parse.

`JobSpec` is the part every task of a batch shares (where outputs go, the options, force, queue): it is
the batch's template in the status store, which retry-failed turns back into jobs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smallcut.options import Shadow, parse_color

__all__ = ["InvalidJob", "Job", "JobOptions", "JobSpec"]


class InvalidJob(ValueError):
    """A message or template that is not a job; str(exc) says which field is wrong and why."""


def _explain(exc: ValidationError, what: str) -> InvalidJob:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or what
        msg = "unknown field (written by a newer smallcut?)" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {msg}")
    return InvalidJob(f"bad {what}: " + "; ".join(parts))


class JobOptions(BaseModel):
    """The cut-out switches a job names; a switch left out (None) takes the worker's default
    (SMALLCUT_ROI, SMALLCUT_POSTPROCESS, SMALLCUT_SHADOW). The names are those the engine's
    CutoutOptions.from_dict reads (smallcut.options.job_options builds them on the CLI side)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    roi: bool | None = Field(None, description="zoomed passes on detected objects")
    postprocess: bool | None = Field(None, description="the matte's post-processing steps")
    mask_only: bool | None = Field(None, description="write the alpha mask instead of RGBA")
    bg_color: str | list[int] | None = Field(None, description="flatten onto this colour (#rrggbbaa, r,g,b[,a] "
                                            "or a list of 3-4 integers)")
    shadow: Shadow | None = Field(None, description="remove: a cast shadow is background; keep: part of the object")
    profiles: list[dict[str, Any]] | None = Field(
        None, description="output profiles, each as its fields (smallcut.profiles; None: the worker's SMALLCUT_PROFILES)")
    split_objects: bool | None = Field(None, description="one output per object of the frame")

    @field_validator("bg_color")
    @classmethod
    def _colour(cls, value):
        # checked here, so that a bad colour fails the job's keys with the reason before any download
        if isinstance(value, str):
            parse_color(value)
        elif value is not None and not (len(value) in (3, 4) and all(0 <= v <= 255 for v in value)):
            raise ValueError("a colour list has 3 or 4 integers 0-255")
        return value

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles(cls, value):
        # checked and written out field by field here: a bad profile fails the job's keys with the field
        from smallcut.profiles import from_job, to_job

        if value is None:
            return None
        return to_job(from_job(value)) or None

    def as_dict(self) -> dict[str, Any]:
        """Only the switches chosen: what the engine's CutoutOptions.from_dict lays over the defaults
        (it reads its own fields; profiles and split_objects are the outputs', workers/outputs.py)."""
        return self.model_dump(mode="json", exclude_none=True)


class JobSpec(BaseModel):
    """What every task of a batch carries besides its batch, bucket and keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    out_bucket: str | None = Field(None, description="bucket of the PNGs (None: the worker's SMALLCUT_OUTPUT_BUCKET, "
                                   "else the input bucket)")
    out_prefix: str | None = Field(None, description="prefix of the PNGs (None: the worker's SMALLCUT_OUT_PREFIX)")
    in_prefix: str = Field("", description="the part of each key the output prefix replaces (keys.output_key)")
    options: JobOptions = Field(default_factory=JobOptions, description="cut-out switches")
    force: bool = Field(False, description="redo keys whose output is already current")
    queue: str | None = Field(None, description="the queue the batch was sent to (retry-failed sends there again)")

    @field_validator("options", mode="before")
    @classmethod
    def _null_options(cls, value):
        return {} if value is None else value  # older messages carry `options: null`

    @classmethod
    def from_template(cls, data: Any) -> "JobSpec":
        """A batch's stored template -> JobSpec; InvalidJob with the reason when it is not one."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise _explain(exc, "job template") from None

    def to_template(self) -> dict[str, Any]:
        """The JSON form stored with a batch (status.create_batch) and read by from_template."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def job(self, batch: str, bucket: str, keys: list[str]) -> "Job":
        """The job of `keys` of `bucket` in `batch`, with this spec."""
        return Job(batch=batch, bucket=bucket, keys=keys, **dict(self))


class Job(JobSpec):
    """One task's work: keys of one bucket in one batch, and how to cut them out."""

    batch: str = Field(min_length=1, description="the batch the keys count in")
    bucket: str = Field(min_length=1, description="the input bucket")
    keys: list[str] = Field(min_length=1, description="input keys (a legacy single `key` is read as [key])")
    tries: int | None = Field(None, ge=0, description="tries of these keys before this one (None: Celery's count)")
    retry_since: float | None = Field(None, description="when the first try of these keys began (epoch s)")

    @model_validator(mode="before")
    @classmethod
    def _legacy_key(cls, data: Any) -> Any:
        # event tasks used to carry one `key`; a retry of one carried both (`keys` won, as it does here)
        if isinstance(data, dict) and "key" in data:
            data = dict(data)
            key = data.pop("key")
            data.setdefault("keys", [key])
        return data

    @classmethod
    def from_message(cls, message: Any) -> "Job":
        """The job a Celery message carries; InvalidJob with the reason when it is not one."""
        if not isinstance(message, dict):
            raise InvalidJob(f"bad job: a JSON object was expected, not {type(message).__name__}")
        try:
            return cls.model_validate(message)
        except ValidationError as exc:
            raise _explain(exc, "job") from None

    def to_message(self) -> dict[str, Any]:
        """The JSON dict a Celery task carries (what from_message reads)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @property
    def spec(self) -> JobSpec:
        return JobSpec(**{name: getattr(self, name) for name in JobSpec.model_fields})

    def with_keys(self, keys: list[str]) -> "Job":
        """The same job for other keys of its bucket (a retry of some, a requeue of the unfinished)."""
        return self.model_copy(update={"keys": list(keys)})

    def again(self, tries: int, retry_since: float) -> "Job":
        """The job of the next try: the try count and the retry budget's start travel with it, so a
        requeue by a reaper (a new task, Celery's count back at 0) keeps them."""
        return self.model_copy(update={"tries": tries, "retry_since": retry_since})
