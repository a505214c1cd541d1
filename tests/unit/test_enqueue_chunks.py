"""How a batch's keys are cut into tasks: full chunks, then the tail one key per task."""

from __future__ import annotations

from producer.enqueue import chunked


def _keys(n: int, bucket: str = "b") -> list[tuple[str, str]]:
    return [(bucket, f"{bucket}/k{i:03d}") for i in range(n)]


def test_chunks_then_a_tail_of_single_keys_in_input_order():
    out = list(chunked(_keys(40), 8))
    sizes = [len(keys) for _, keys in out]
    assert sizes == [8, 8, 8] + [1] * 16
    assert [k for _, keys in out for k in keys] == [k for _, k in _keys(40)]


def test_a_short_batch_is_all_tail():
    assert [len(keys) for _, keys in chunked(_keys(20), 8)] == [4] + [1] * 16
    assert [len(keys) for _, keys in chunked(_keys(3), 8)] == [1, 1, 1]
    assert [len(keys) for _, keys in chunked(_keys(7), 2, tail=0)] == [2, 2, 2, 1]


def test_chunks_never_mix_buckets():
    items = _keys(5, "a") + _keys(30, "b")
    out = list(chunked(items, 8, tail=4))
    assert all(k.startswith(f"{b}/") for b, keys in out for k in keys)
    assert [(b, len(keys)) for b, keys in out] == [("a", 5), ("b", 8), ("b", 8), ("b", 8), ("b", 2)] + [("b", 1)] * 4


def test_the_stream_is_held_back_only_tail_deep():
    seen = []

    def source():
        for item in _keys(1000):
            seen.append(item)
            yield item

    first = next(iter(chunked(source(), 8)))
    assert len(first[1]) == 8 and len(seen) == 8 + 16 + 1  # one chunk plus the tail, not the listing
