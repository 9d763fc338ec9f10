from __future__ import annotations

import pytest

from index import fuse_rrf


def test_rrf_adds_reciprocal_ranks() -> None:
    fused = dict(fuse_rrf({"dense": [1, 2, 3], "sparse": [3, 1]}, rrf_k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)


def test_rrf_order_and_weights() -> None:
    assert [i for i, _ in fuse_rrf({"a": [1, 2], "b": [2, 1]})] == [1, 2]  # tie broken by id
    weighted = fuse_rrf({"a": [1, 2], "b": [2, 1]}, weights={"a": 1.0, "b": 2.0})
    assert [i for i, _ in weighted] == [2, 1]


def test_rrf_rejects_negative_settings() -> None:
    with pytest.raises(ValueError, match="rrf_k must be >= 0, got -1"):
        fuse_rrf({"a": [1]}, rrf_k=-1)
    with pytest.raises(ValueError, match="fusion weight for 'a' must be >= 0"):
        fuse_rrf({"a": [1]}, weights={"a": -1.0})
