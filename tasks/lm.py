"""stdlib-lm and text-lm: byte-level causal language modelling with a tiny transformer.

Data (see ``tasks.corpora``): ``stdlib-lm`` reads the CPython standard library's own
``.py`` sources, split into training, validation and test by file (80/10/10); ``text-lm``
reads any UTF-8 text file at ``path``, cut into contiguous parts 80/10/10. Nothing is
downloaded.

Batches are random windows (see ``TokenStream``). Validation uses 128 fixed, evenly spaced
windows of its part; the test set, scored once per run, affords 512. ``evaluate(split)``
returns ``(cross-entropy in nats per byte, bits per byte)``; the metric is bits per byte
(lower is better).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from autolr.checks import check_choice, check_int, check_nonnegative, check_path, check_positive
from autolr.loop.trainee import SplitSizes, TaskInfo, Trainee, check_split
from tasks.base import LR_RANGE, OPTIMIZERS, build_optimizer, describe_optimizer, seeded_model
from tasks.corpora import stdlib_corpus, text_corpus
from tasks.describe import describes
from tasks.splits import Splits
from tasks.streams import TokenStream, fixed_windows
from tasks.transformer import CausalTransformer

VAL_WINDOWS = 128  # evaluated every eval_every steps: kept small
TEST_WINDOWS = 512  # evaluated once per run, so four times the bytes for a steadier number


def nats_per_byte(model: nn.Module, windows: torch.Tensor, eval_batch: int) -> float:
    """The mean next-byte cross-entropy (nats) over ``windows`` (rows of ``seq_len + 1``
    bytes, each predicting its last ``seq_len``), in chunks of ``eval_batch``; leaves the
    model in train mode."""
    total = torch.zeros((), dtype=torch.float64, device=windows.device)
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(windows), eval_batch):
                w = windows[start : start + eval_batch]
                logits = model(w[:, :-1]).float().flatten(0, 1)
                total += F.cross_entropy(logits, w[:, 1:].flatten(), reduction="sum").double()
    finally:
        model.train()
    return float(total) / windows[:, 1:].numel()


class LanguageTrainee(Trainee):
    """Next-byte prediction: batches ``(inputs, targets)`` of shape ``(batch, seq_len)``."""

    uses_global_rng = False  # batches come from seeded generators, dropout from torch

    def __init__(
        self,
        info: TaskInfo,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        stream: TokenStream,
        windows: dict[str, torch.Tensor],
        seed: int,
        device: torch.device,
        splits: Splits,
        eval_batch: int = 64,
    ) -> None:
        self.info = info
        self.model = model
        self.optimizer = optimizer
        self.stream = stream
        self.windows = windows
        self.seed = seed
        self.device = device
        self.splits = splits
        self.eval_batch = eval_batch
        self._checksum: str | None = None

    @property
    def val_windows(self) -> torch.Tensor:
        return self.windows["val"]

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stream.batch(i)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x).flatten(0, 1), y.flatten())

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """``(nats per byte, bits per byte)`` over the split's fixed windows."""
        nats = nats_per_byte(self.model, self.windows[check_split(split)], self.eval_batch)
        return nats, nats / math.log(2)

    def split_sizes(self) -> SplitSizes:
        """The bytes scored: windows times ``seq_len`` (each window predicts that many), or
        every byte of the part but its first where a short part makes the windows overlap."""
        parts = {"val": self.splits.val[0], "test": self.splits.test[0]}
        val, test = (
            min(self.windows[s][:, 1:].numel(), len(parts[s]) - 1) for s in ("val", "test")
        )
        return SplitSizes(val=val, test=test, unit="bytes")

    def data_checksum(self) -> str:
        if self._checksum is None:
            self._checksum = self.splits.checksum()
        return self._checksum


def check_model(width: int, depth: int, heads: int, seq_len: int, batch_size: int) -> None:
    check_int("width", width, 1)
    check_int("depth", depth, 1)
    check_int("heads", heads, 1)
    check_int("seq_len", seq_len, 1)
    check_int("batch_size", batch_size, 1)
    if width % heads:
        raise ValueError(f"width must be divisible by heads={heads}, got {width}")


def lm_info(
    name: str, batch_size: int, lr: float, optimizer: str, decay: float, target: float
) -> TaskInfo:
    check_choice("optimizer", optimizer, OPTIMIZERS)
    decay = check_nonnegative("weight_decay", decay)
    min_lr, max_lr = LR_RANGE[optimizer]
    return TaskInfo(
        name=name,
        kind="language",
        budget_steps=3000,
        batch_size=batch_size,
        eval_every=250,
        metric="bits_per_byte",
        mode="min",
        target=target,
        lr=check_positive("lr", lr),
        optimizer=describe_optimizer(optimizer, decay),
        min_lr=min_lr,
        max_lr=max_lr,
    )


def _build(
    info: TaskInfo,
    corpus: Splits,
    seed: int,
    device: str,
    model_shape: tuple[int, int, int, int],
    optimizer: str,
    weight_decay: float,
) -> LanguageTrainee:
    width, depth, heads, seq_len = model_shape
    dev = torch.device(device)
    train, val, test = (
        torch.from_numpy(part[0].copy()).to(dev) for part in (corpus.train, corpus.val, corpus.test)
    )
    model = seeded_model(lambda: CausalTransformer(width, depth, heads, seq_len), seed, device)
    return LanguageTrainee(
        info=info,
        model=model,
        optimizer=build_optimizer(optimizer, model.parameters(), info.lr, weight_decay),
        stream=TokenStream(train, seq_len, info.batch_size, seed),
        windows={
            "val": fixed_windows(val, seq_len, VAL_WINDOWS),
            "test": fixed_windows(test, seq_len, TEST_WINDOWS),
        },
        seed=seed,
        device=dev,
        splits=corpus,
    )


def _stdlib_info(
    *,
    width: int,
    depth: int,
    heads: int,
    seq_len: int,
    batch_size: int,
    data_seed: int,
    corpus_bytes: int,
    lr: float,
    optimizer: str,
    weight_decay: float,
) -> TaskInfo:
    check_model(width, depth, heads, seq_len, batch_size)
    check_int("data_seed", data_seed, 0)
    check_int("corpus_bytes", corpus_bytes, 100_000)
    return lm_info("stdlib-lm", batch_size, lr, optimizer, weight_decay, target=2.3)


@describes("stdlib-lm", _stdlib_info)
def make_stdlib(
    seed: int,
    device: str = "cpu",
    *,
    width: int = 64,
    depth: int = 2,
    heads: int = 4,
    seq_len: int = 64,
    batch_size: int = 32,
    data_seed: int = 0,
    corpus_bytes: int = 3_000_000,
    lr: float = 3e-3,
    optimizer: str = "adamw",
    weight_decay: float = 0.01,
) -> LanguageTrainee:
    """A byte-level transformer on about ``corpus_bytes`` of the stdlib's Python sources."""
    info = _stdlib_info(
        width=width,
        depth=depth,
        heads=heads,
        seq_len=seq_len,
        batch_size=batch_size,
        data_seed=data_seed,
        corpus_bytes=corpus_bytes,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
    )
    corpus = stdlib_corpus(data_seed, corpus_bytes)
    return _build(
        info,
        corpus,
        check_int("seed", seed, 0),
        device,
        (width, depth, heads, seq_len),
        optimizer,
        weight_decay,
    )


def _text_info(
    *,
    path: str | Path | None,
    width: int,
    depth: int,
    heads: int,
    seq_len: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    weight_decay: float,
    target: float,
) -> TaskInfo:
    check_path("path", path)
    check_model(width, depth, heads, seq_len, batch_size)
    target = check_positive("target", target)
    return lm_info("text-lm", batch_size, lr, optimizer, weight_decay, target=target)


@describes("text-lm", _text_info)
def make_text(
    seed: int,
    device: str = "cpu",
    *,
    path: str | Path | None = None,
    width: int = 64,
    depth: int = 2,
    heads: int = 4,
    seq_len: int = 64,
    batch_size: int = 32,
    lr: float = 3e-3,
    optimizer: str = "adamw",
    weight_decay: float = 0.01,
    target: float = 2.5,
) -> LanguageTrainee:
    """The stdlib-lm model on the UTF-8 text file at ``path`` (required).

    ``target`` (bits per byte) depends on the text, so it is a parameter.
    """
    info = _text_info(
        path=path,
        width=width,
        depth=depth,
        heads=heads,
        seq_len=seq_len,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        target=target,
    )
    corpus = text_corpus(check_path("path", path), seq_len)
    return _build(
        info,
        corpus,
        check_int("seed", seed, 0),
        device,
        (width, depth, heads, seq_len),
        optimizer,
        weight_decay,
    )
