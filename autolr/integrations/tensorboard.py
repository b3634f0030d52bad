"""A run's scalars as TensorBoard events: ``autolr run/bench ... --tensorboard DIR``.

``TensorBoardLog(logdir)`` is a Session callback (``session.callbacks``, or ``autolr.run(...,
callbacks=[log])``); after the run, ``log.finish(session)`` writes what the last turn left
(the final evaluation, the test split) and closes the file. Needs the ``tensorboard``
package: ``pip install 'autolr[tensorboard]'``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autolr.integrations.extras import require

if TYPE_CHECKING:
    from autolr.loop.session import Session


def require_tensorboard() -> None:
    """MissingExtra (an ImportError naming ``autolr[tensorboard]``) without the tensorboard
    package, which torch's SummaryWriter writes with."""
    require("tensorboard", "tensorboard", "writing TensorBoard logs (--tensorboard)")


def summary_writer(logdir: str | Path, purge_step: int | None = None) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` on ``logdir`` (``require_tensorboard``)."""
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(logdir), purge_step=purge_step)


def metric_tag(split: str, metric: str) -> str:
    """The tag of a task's metric: ``val/accuracy``; a metric named ``loss`` (the NQM's)
    is ``val/metric``, as ``val/loss`` is the split's loss."""
    return f"{split}/{'metric' if metric == 'loss' else metric}"


class TensorBoardLog:
    """Writes a Session's scalars into ``logdir``, with kept optimizer steps as the x axis.

    Tags: ``lr`` and ``train/loss`` at every kept step; ``val/loss`` and ``val/<metric>``
    (``metric_tag``) at every evaluation, with the trainee's extra metrics as
    ``val/<name>``; ``budget/charged``, ``budget/probes``, ``budget/lost`` and
    ``budget/rollbacks`` (the ledger) and ``controller/<name>`` (each number of
    ``controller.stats()``) after every turn; ``test/loss`` and ``test/<metric>`` once, at
    the last step, from ``finish``.

    Each call writes the history rows added since the last one. A log starts by writing the
    session's whole history, so a resumed run writes again what the killed one wrote; the
    writer's ``purge_step=0`` makes TensorBoard drop the events of earlier runs in the same
    folder (a killed run's, or the one ``--overwrite`` replaced), so each step shows once.
    """

    def __init__(self, logdir: str | Path) -> None:
        require_tensorboard()  # now, not at the first write after a turn of training
        self.logdir = Path(logdir)
        self._writer: Any = None  # opened at the first write: a refused run leaves no file
        self._steps = 0  # history rows written
        self._evals = 0

    @property
    def writer(self) -> Any:
        if self._writer is None:
            self._writer = summary_writer(self.logdir, purge_step=0)
        return self._writer

    def __call__(self, session: Session) -> None:
        self._write_history(session)
        step, ledger = session.step, session.ledger
        for name, count in (
            ("charged", ledger.charged),
            ("probes", ledger.probes),
            ("lost", ledger.lost),
            ("rollbacks", ledger.rollbacks),
        ):
            self.writer.add_scalar(f"budget/{name}", count, step)
        for name, value in session.controller.stats().items():
            if _is_number(value):
                self.writer.add_scalar(f"controller/{name}", value, step)

    def finish(self, session: Session) -> None:
        """Write what the run added after its last turn (``Session.finish``'s final
        evaluation and the test split), the controller's final stats, and close."""
        self(session)
        test = session.history.test
        if test is not None:
            metric = session.trainee.info.metric
            step = int(test["step"])
            self._scalar("test/loss", test["test_loss"], step)
            self._scalar(metric_tag("test", metric), test["test_metric"], step)
        self.close()

    def close(self) -> None:
        """Flush and close the event file, if one was opened."""
        if self._writer is not None:
            self._writer.close()

    def _write_history(self, session: Session) -> None:
        h, add = session.history, self.writer.add_scalar
        steps = h.steps
        for i in range(self._steps, len(steps["step"])):
            step = int(steps["step"][i])
            add("lr", steps["lr"][i], step)
            add("train/loss", steps["train_loss"][i], step)
        self._steps = len(steps["step"])
        metric_name = metric_tag("val", session.trainee.info.metric)
        for i in range(self._evals, len(h.evals["step"])):
            step = int(h.evals["step"][i])
            self._scalar("val/loss", h.evals["val_loss"][i], step)
            self._scalar(metric_name, h.evals["val_metric"][i], step)
            for name, column in h.extras.items():
                self._scalar(f"val/{name}", column[i], step)
        self._evals = len(h.evals["step"])

    def _scalar(self, tag: str, value: float | None, step: int) -> None:
        # a trainee without a number for a split (a closure's test) has NaN or None: no point
        if _is_number(value) and not math.isnan(value):
            self.writer.add_scalar(tag, value, step)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
