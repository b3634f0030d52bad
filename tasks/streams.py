"""Deterministic batch streams: batch ``i`` is a pure function of ``(seed, i)``.

``ArrayStream`` permutes rows per epoch, ``TokenStream`` draws random windows of a token
sequence, and ``PhasedStream`` switches between streams at given batches (continual-lm).

The data live on the device once; a batch is an index-select. No global RNG is touched, so
a snapshot of a stream is just its integer cursor, and batches may be asked for in any order.
"""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch


def _step(i: int) -> int:
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or i < 0:
        raise ValueError(f"batch index must be an integer >= 0, got {i!r}")
    return int(i)


class ArrayStream:
    """Epoch-permuted minibatches over equally long tensors.

    With ``n`` rows and ``s = n // batch_size`` steps per epoch (the last partial batch of
    each epoch is dropped), batch ``i`` holds rows ``perm[j*B:(j+1)*B]`` of every tensor, where
    ``e = i // s``, ``j = i % s`` and ``perm = np.random.default_rng([seed, e]).permutation(n)``.
    """

    _CACHED_EPOCHS = 2  # a probe that crosses an epoch boundary and restores stays cheap

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, seed: int) -> None:
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
        if not 1 <= batch_size <= n:
            raise ValueError(
                f"batch_size must be in [1, {n}] (the training set size), got {batch_size}"
            )
        self.tensors = tensors
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = n // batch_size
        self._perms: OrderedDict[int, torch.Tensor] = OrderedDict()

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.tensors[0]))
            self._perms[epoch] = torch.from_numpy(perm).to(self.tensors[0].device)
            while len(self._perms) > self._CACHED_EPOCHS:
                self._perms.popitem(last=False)
        return self._perms[epoch]

    def indices(self, i: int) -> torch.Tensor:
        """The row indices of batch ``i``."""
        epoch, j = divmod(_step(i), self.steps_per_epoch)
        return self._permutation(epoch)[j * self.batch_size : (j + 1) * self.batch_size]

    def batch(self, i: int) -> tuple[torch.Tensor, ...]:
        """Batch ``i``: the selected rows of every tensor."""
        idx = self.indices(i)
        return tuple(t[idx] for t in self.tensors)


class TokenStream:
    """Random windows of a token sequence, for next-token prediction.

    Batch ``i`` takes ``batch_size`` windows of ``seq_len + 1`` tokens starting at offsets
    ``np.random.default_rng([seed, i]).integers(0, n - seq_len, batch_size)`` and returns
    ``(inputs, targets) = (w[:, :-1], w[:, 1:])`` as int64.
    """

    def __init__(self, tokens: torch.Tensor, seq_len: int, batch_size: int, seed: int) -> None:
        if len(tokens) < seq_len + 1:
            raise ValueError(f"need at least seq_len + 1 = {seq_len + 1} tokens, got {len(tokens)}")
        self.tokens = tokens
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self._span = torch.arange(seq_len + 1, device=tokens.device)

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``i``: ``(inputs, targets)``, each ``(batch_size, seq_len)``."""
        rng = np.random.default_rng([self.seed, _step(i)])
        starts = rng.integers(0, len(self.tokens) - self.seq_len, self.batch_size)
        offsets = torch.from_numpy(starts).to(self.tokens.device)
        windows = self.tokens[offsets[:, None] + self._span].long()
        return windows[:, :-1], windows[:, 1:]


def fixed_windows(tokens: torch.Tensor, seq_len: int, count: int) -> torch.Tensor:
    """Up to ``count`` evenly spaced windows of ``seq_len + 1`` tokens, as int64 rows.

    A fixed validation set for a language model: the same windows every evaluation.
    """
    last = len(tokens) - seq_len - 1
    if last < 0:
        raise ValueError(f"need at least seq_len + 1 = {seq_len + 1} tokens, got {len(tokens)}")
    count = min(count, last + 1)
    starts = torch.linspace(0, last, count, device=tokens.device).round().long().unique()
    span = torch.arange(seq_len + 1, device=tokens.device)
    return tokens[starts[:, None] + span].long()


class PhasedStream:
    """One stream per phase: batch ``i`` is ``streams[phase(i)].batch(i)``.

    ``starts`` are the first batches of phases 1, 2, ... (non-decreasing), so
    ``phase(i) = #{s in starts : s <= i}``; ``streams`` has one more entry than ``starts``
    (streams may repeat, to revisit a corpus). Batch ``i`` stays a pure function of the
    streams' seeds and ``i``, in whatever order batches are asked for.
    """

    def __init__(self, streams: Sequence[TokenStream], starts: Sequence[int]) -> None:
        if len(streams) != len(starts) + 1:
            raise ValueError(f"{len(streams)} streams need {len(streams) - 1} starts, got {starts}")
        if any(b < a for a, b in itertools.pairwise(starts)) or any(s < 0 for s in starts):
            raise ValueError(f"starts must be non-decreasing integers >= 0, got {list(starts)}")
        self.streams = list(streams)
        self.starts = [int(s) for s in starts]

    def phase(self, i: int) -> int:
        """The phase of batch ``i``."""
        return bisect.bisect_right(self.starts, _step(i))

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.streams[self.phase(i)].batch(i)
