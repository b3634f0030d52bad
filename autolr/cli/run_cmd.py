"""``autolr run CONFIG.yaml [--set key=value ...] [--out DIR] [--resume | --overwrite]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="train one task with one controller",
        description="Train a task with a controller as a YAML config says. Writes "
        "metrics.csv, summary.json, checkpoint.pt, lr.png and loss.png into --out.",
    )
    p.add_argument("config", help="YAML file (or inline YAML) with task, controller, ...")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (dotted), e.g. seed=1",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default: runs/<task>-<controller>-s<seed>-<hash>, where <hash> is "
        "8 hex digits of a hash of the resolved config, so any change gets its own folder)",
    )
    p.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out (its outputs are removed first); without this or "
        "--resume, a folder that holds a run is refused",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write the LR, losses, metrics and controller stats as TensorBoard scalars "
        "into DIR (needs autolr[tensorboard])",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autolr.running.io import terminate_cleanly
    from autolr.running.outdir import default_out
    from autolr.running.runner import load_config
    from autolr.running.runner import run as run_config

    cfg = load_config(args.config, args.overrides)
    out = args.out if args.out is not None else default_out(cfg.model_dump())
    log = None
    if args.tensorboard is not None:
        from autolr.integrations.tensorboard import TensorBoardLog

        log = TensorBoardLog(args.tensorboard)
    try:
        with terminate_cleanly():
            result = run_config(
                args.config,
                out=out,
                resume=args.resume,
                overwrite=args.overwrite,
                overrides=args.overrides,
                progress=not args.quiet,
                callbacks=[] if log is None else [log],
            )
        if log is not None:
            log.finish(result.session)
    finally:
        if log is not None:
            log.close()
    s = result.summary
    keys = (
        "final_test_metric",
        "final_val_metric",
        "best_val_metric",
        "final_test_loss",
        "final_val_loss",
        "val_size",
        "test_size",
        "steps_trained",
        "steps_probed",
        "rollbacks",
        "steps_to_target",
        "wall_time_s",
    )
    if "merge" in s:  # a merging run: the final numbers are the merged model's
        keys += ("unmerged_final_test_metric", "unmerged_final_val_metric")
    print(json.dumps({k: s[k] for k in keys}, indent=2))
    print(f"wrote {out}/ (metrics.csv, summary.json, checkpoint.pt, lr.png, loss.png)")
    return 0
