"""``autolr agents train|meta-train|eval``: RL and meta-learned LR policies.

The ``agents`` package provides this verb to the ``autolr`` command through the
``autolr.cli`` entry-point group (``agents = agents.cli`` in setup.cfg): a module with
``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MIN_SEEDS = 5  # evaluation seeds for numbers worth reporting
OVERWRITE_HELP = "replace an existing policy file and its .csv/.png (else exit 2)"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "agents",
        help="train and evaluate LR-control policies (RL, meta-learned)",
        description="Train an RL policy with stable-baselines3, meta-train the `meta` policy by "
        "evolution strategies, or evaluate a policy on held-out instances.",
    )
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    t = acts.add_parser("train", help="train an RL policy (PPO or SAC) on LRControl-v0")
    t.add_argument("config", help="YAML file (or inline YAML); see agents.rltrain.DEFAULTS")
    t.add_argument("--algo", choices=["ppo", "sac"], help="override the config's algo")
    t.add_argument("--timesteps", type=int, help="override the config's timesteps")
    t.add_argument("--out", type=Path, help="policy file (.pt); the curve goes beside it")
    t.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    t.add_argument(
        "--quiet",
        action="store_true",
        help="a line every 20 episodes instead of a progress bar (also without a terminal)",
    )
    t.set_defaults(func=train)

    m = acts.add_parser("meta-train", help="meta-train the `meta` policy by evolution strategies")
    m.add_argument("config", help="YAML file (or inline YAML); see agents.metatrain.DEFAULTS")
    m.add_argument(
        "--out",
        type=Path,
        help="policy file (.json; default: the config's out, runs/agents/meta_policy.json); "
        "the curve goes beside it. The shipped policy is rewritten only by "
        "--out agents/policies/meta_default.json --overwrite",
    )
    m.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    m.set_defaults(func=meta_train)

    e = acts.add_parser("eval", help="compare a policy with tuned baselines on test instances")
    e.add_argument(
        "--policy",
        default="meta",
        help="'meta' (the shipped policy), or a policy file (meta or RL: the file says which; "
        "default: meta)",
    )
    e.add_argument("--config", help="YAML with an 'instances' key (default: the nqm set)")
    e.add_argument(
        "--seeds",
        type=int,
        help=f"evaluation seeds per instance (>= {MIN_SEEDS}; default {MIN_SEEDS}, with "
        "--smoke 1 and 1 to 4 allowed)",
    )
    e.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check that the evaluation runs: fewer seeds, baselines untuned; the "
        "table says SMOKE and its numbers are not for reporting",
    )
    e.add_argument(
        "--out",
        type=Path,
        help="output folder (default runs/agents/eval, with --smoke runs/agents/eval-smoke)",
    )
    e.add_argument(
        "--store",
        help="results store: a SQLite path or a SQLAlchemy URL (default: OUT/results.db); "
        "a rerun skips the runs it holds",
    )
    e.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    e.set_defaults(func=evaluate)


def _config(text: str) -> dict[str, Any]:
    from autolr.running.io import load_yaml_arg

    cfg = load_yaml_arg(text)
    if not isinstance(cfg, dict):
        raise ValueError(f"config must be a mapping of keys, got {cfg!r}")
    return cfg


def train(args: argparse.Namespace) -> int:
    from agents.rltrain import train_rl

    path, rows = train_rl(
        _config(args.config),
        progress=not args.quiet and sys.stderr.isatty(),
        log=lambda line: print(line, flush=True),
        algo=args.algo,
        timesteps=args.timesteps,
        out=None if args.out is None else str(args.out),
        overwrite=args.overwrite,
    )
    print(
        f"{len(rows)} episodes; wrote {path}, "
        f"{path.with_suffix('.csv')}, {path.with_suffix('.png')}"
    )
    return 0


def meta_train(args: argparse.Namespace) -> int:
    from agents.metatrain import check_config
    from agents.metatrain import meta_train as run

    cfg = _config(args.config)
    run(cfg, out=args.out, overwrite=args.overwrite)
    out = Path(args.out or check_config(cfg)["out"])
    print(f"wrote {out}, {out.with_suffix('.csv')}, {out.with_suffix('.png')}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from agents.evaluate import evaluate_all
    from agents.policy_file import policy_spec

    seeds = args.seeds if args.seeds is not None else (1 if args.smoke else MIN_SEEDS)
    if seeds < 1 or (seeds < MIN_SEEDS and not args.smoke):
        raise ValueError(f"--seeds must be >= {MIN_SEEDS}, got {seeds} (1-4 only with --smoke)")
    out = args.out or Path("runs/agents/eval-smoke" if args.smoke else "runs/agents/eval")
    instances = _config(args.config).get("instances") if args.config else None
    summary, text = evaluate_all(
        policy_spec(args.policy),
        instances,
        seeds,
        out,
        store=args.store,
        workers=args.workers,
        smoke=args.smoke,
    )
    print(text)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("methods", "per_instance")}))
    print(f"wrote {out}/ (summary.json, table.md, scores.png; runs in the results store)")
    return 0
