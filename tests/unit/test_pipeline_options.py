"""SMALLCUT_ROI and SMALLCUT_POSTPROCESS are the worker's defaults for queued work; a job's own options win."""

from __future__ import annotations

from smallcut.settings import Settings
from workers.pipeline import job_options


def test_a_job_without_options_takes_the_workers_settings():
    opts = job_options({"keys": ["a.jpg"]}, Settings(roi=False, postprocess=False))
    assert (opts.roi, opts.postprocess) == (False, False)
    opts = job_options({"keys": ["a.jpg"], "options": {"mask_only": True}}, Settings())
    assert (opts.roi, opts.postprocess, opts.mask_only) == (True, True, True)


def test_the_jobs_own_options_win_over_the_settings():
    opts = job_options({"options": {"roi": True, "postprocess": False}}, Settings(roi=False, postprocess=True))
    assert (opts.roi, opts.postprocess) == (True, False)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SMALLCUT_ROI", "false")
    opts = job_options({"options": None}, Settings())
    assert opts.roi is False and opts.postprocess is True


def test_shadow_mode_defaults_to_the_setting_and_the_job_wins():
    assert job_options({"keys": ["a.jpg"]}, Settings()).shadow == "remove"
    assert job_options({"keys": ["a.jpg"]}, Settings(shadow="keep")).shadow == "keep"
    assert job_options({"options": {"shadow": "remove"}}, Settings(shadow="keep")).shadow == "remove"
