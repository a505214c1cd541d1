"""Which catalog-tune frames the classifier trainers read (training.catalog.parse_frames)."""

from __future__ import annotations

import pytest

from training.catalog import parse_frames


def test_a_count_reads_the_first_frames_and_ranges_leave_out_their_end():
    assert parse_frames("3") == [0, 1, 2]
    assert parse_frames("220-240,300-303") == [*range(220, 240), 300, 301, 302]


@pytest.mark.parametrize("text", ["241", "0-300", "250-260", "200-240,299-301"])
def test_the_tuning_check_frames_are_refused(text):
    with pytest.raises(ValueError, match="tuning check"):
        parse_frames(text)
