"""``AutoLRCallback`` under Lightning's DDP (two CPU ranks, gloo): the ranks train at one
LR and stay identical, probes included. It rests on the data-parallel ``attach`` (issue
#17, section 4, ``autolr.loop.ddp``), and skips where that is not in the package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.integrations import need

need("lightning")
pytest.importorskip("autolr.loop.ddp", reason="the data-parallel attach (issue #17, section 4)")
import lightning.pytorch as pl  # noqa: E402

from autolr.integrations.lightning import AutoLRCallback  # noqa: E402
from tests.integrations.test_lightning import Regression, loader  # noqa: E402


class Recorded(Regression):
    """Writes what its rank saw into ``out/rank<k>.json`` when training ends."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("val_loss", loss, sync_dist=True)  # the ranks' mean: one number on each

    def on_train_end(self) -> None:
        (callback,) = [c for c in self.trainer.callbacks if isinstance(c, AutoLRCallback)]
        handle = callback.handle
        record = {
            "lrs": self.lrs,
            "weights": [p.detach().flatten().tolist() for p in self.parameters()],
            "kept": handle.step_count,
            "probes": handle.ledger.probes,
            "charged": handle.charged,
            "val_loss": handle.state.val_loss,
            "global_step": self.trainer.global_step,
        }
        (self.out / f"rank{self.trainer.global_rank}.json").write_text(json.dumps(record))


@pytest.mark.slow  # two spawned ranks that each import lightning: about a minute on 2 cores
def test_ranks_train_in_lockstep_with_a_probing_controller(tmp_path):
    trainer = pl.Trainer(
        max_steps=60,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        val_check_interval=4,
        callbacks=[AutoLRCallback("auto", interval=4)],
    )
    trainer.fit(Recorded(tmp_path), loader(0, 128), loader(1, 32))
    first, second = (json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1))
    # every step (probe steps first) at one LR, and the replicas identical at the end
    assert first["lrs"] == second["lrs"] and len(set(first["lrs"])) > 2
    assert first["weights"] == second["weights"]
    for rank in (first, second):
        assert rank["probes"] > 0 and rank["kept"] == rank["global_step"]
        assert rank["kept"] + rank["probes"] == rank["charged"] == 60
    assert first["val_loss"] == second["val_loss"] is not None
