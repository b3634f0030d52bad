"""Batch streams: pure functions of (seed, i)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.streams import ArrayStream, TokenStream, fixed_windows


def test_array_stream_visits_every_row_once_per_epoch():
    x = torch.arange(10)
    stream = ArrayStream((x, -x), batch_size=3, seed=7)
    assert stream.steps_per_epoch == 3  # the tenth row waits for another epoch
    for epoch in range(3):
        rows = torch.cat([stream.batch(epoch * 3 + j)[0] for j in range(3)])
        assert len(set(rows.tolist())) == 9
        perm = np.random.default_rng([7, epoch]).permutation(10)
        assert rows.tolist() == perm[:9].tolist()
    xb, yb = stream.batch(4)
    assert torch.equal(yb, -xb)


def test_array_stream_refuses_bad_inputs():
    with pytest.raises(ValueError, match="batch_size"):
        ArrayStream((torch.zeros(4),), batch_size=5, seed=0)
    with pytest.raises(ValueError, match="length"):
        ArrayStream((torch.zeros(4), torch.zeros(5)), batch_size=2, seed=0)
    with pytest.raises(ValueError, match="batch index"):
        ArrayStream((torch.zeros(4),), batch_size=2, seed=0).batch(-1)


def test_token_stream_windows_are_shifted_by_one_and_seeded():
    tokens = torch.arange(100, dtype=torch.uint8)
    stream = TokenStream(tokens, seq_len=8, batch_size=4, seed=2)
    x, y = stream.batch(5)
    starts = np.random.default_rng([2, 5]).integers(0, 92, 4)
    assert x[:, 0].tolist() == starts.tolist()
    assert torch.equal(y, x + 1) and x.dtype == torch.int64 and x.shape == (4, 8)
    assert int(y.max()) <= 99
    with pytest.raises(ValueError, match="seq_len"):
        TokenStream(tokens[:8], seq_len=8, batch_size=1, seed=0)


def test_fixed_windows_are_evenly_spaced_and_in_range():
    tokens = torch.arange(50, dtype=torch.uint8)
    w = fixed_windows(tokens, seq_len=9, count=5)
    assert w.shape == (5, 10) and w[:, 0].tolist() == [0, 10, 20, 30, 40]
    assert fixed_windows(tokens, seq_len=48, count=5).shape == (2, 49)
