"""Framework overhead: a Session with the `fixed` controller against a bare PyTorch loop.

Both train the same task from the same seed on the same batches with the same cosine LR;
the bare loop uses torch's CosineAnnealingLR and reads each loss with .item(), as a user's
loop would. Runs come in pairs, alternating which goes first, so that machine noise hits
both alike, and the reported overhead is the median of the per-pair ratios. On a shared
machine noise only ever adds time, so the ratio of each loop's fastest run is reported too
(the steadier estimate there). Both the process CPU time (waiting for a core is not
counted) and the wall time are reported; with one torch thread they measure the same work.

    python benchmarks/overhead.py --task digits-cnn --steps 400 --repeats 5 --threads 1

``--controllers`` measures instead what each named controller costs beyond the training
steps it charges: inside one run of ``autolr run``'s session (no evaluations but the first
and last), every call of the training step is timed, probes' steps included (they run
through the same stepper), and the rest of the run (snapshots and restores, decisions,
plans) is the controller's and the framework's share. ``fixed`` (the untuned default's
cosine) is the floor every controller pays; a controller's overhead beyond its charged
steps is its share minus fixed's. Shares are medians over ``--repeats`` seeds.

    python benchmarks/overhead.py --task mnist1d-cnn --steps 3000 --repeats 3 \
        --controllers fixed auto optuna autolrs
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from autolr.controllers import Fixed
from autolr.loop.session import Session
from autolr.loop.stepper import Stepper
from autolr.loop.trainee import make_task
from autolr.running.runner import build_session, load_config


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def bare_loop(task: dict, seed: int, steps: int) -> tuple[float, float]:
    trainee = make_task(task, seed=seed)
    opt, lr = trainee.optimizer, trainee.info.lr
    for g in opt.param_groups:
        g["lr"] = lr
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    start = _clock()
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = trainee.loss(trainee.batch(i))
        loss.backward()
        opt.step()
        sched.step()
        loss.item()
    return _since(start)


def session_loop(task: dict, seed: int, steps: int, interval: int) -> tuple[float, float]:
    trainee = make_task(task, seed=seed)
    ctrl = Fixed({"name": "cosine", "lr": trainee.info.lr, "total_steps": steps})
    session = Session(trainee, ctrl, steps, interval, eval_every=0)
    start = _clock()
    while not session.done:
        session.advance(ctrl.propose(session.state, session.probe))
    return _since(start)


def controller_loop(
    task: dict, seed: int, steps: int, interval: int, controller: str
) -> tuple[float, float]:
    """A run of ``controller`` (its defaults; ``fixed``: the task's cosine) as ``autolr run``
    builds it, evaluating only at the start and the end."""
    spec: dict[str, Any] = {"name": controller}
    if controller == "fixed":
        lr = make_task(task, seed=seed).info.lr
        spec["schedule"] = {"name": "cosine", "lr": lr, "total_steps": steps}
    cfg = load_config(
        {
            "task": task,
            "seed": seed,
            "budget_steps": steps,
            "interval": interval,
            "eval_every": 0,
            "threads": torch.get_num_threads(),
            "controller": spec,
        }
    )
    session = build_session(cfg)
    start = _clock()
    while session.turn():  # propose, advance, observe: the run's own loop
        pass
    return _since(start)


def framework_share(
    task: dict, seed: int, steps: int, interval: int, controller: str | None = None
) -> float:
    """The Session's own time as a fraction of the time its training steps take, measured
    inside one run: every call of the step the stepper makes is timed, and the rest of the
    run (LR writes, loss records, stop rule, snapshots, plans, states, the controller) is the
    framework's. Machine noise slows both parts alike, so this ratio is steadier than a ratio
    of two runs' times."""
    inside = 0.0
    run = Stepper.run

    def timed(self: Stepper, plan: Any, step: Any, stop: Any, **kw: Any) -> Any:
        def clocked(k: int) -> float:
            nonlocal inside
            t0 = time.perf_counter()  # cheap (no system call), unlike the CPU-time clock
            value = step(k)
            inside += time.perf_counter() - t0
            return value

        return run(self, plan, clocked, stop, **kw)

    Stepper.run = timed  # type: ignore[method-assign]
    try:
        if controller is None:
            total = session_loop(task, seed, steps, interval)[1]
        else:
            total = controller_loop(task, seed, steps, interval, controller)[1]
    finally:
        Stepper.run = run  # type: ignore[method-assign]
    return (total - inside) / inside


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="digits-cnn")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--interval", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: immune to noise)")
    p.add_argument(
        "--controllers",
        nargs="+",
        metavar="NAME",
        help="each controller's share beyond its charged steps, against fixed's (see above)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    task = {"name": args.task}
    if args.controllers:
        controller_shares(task, args)
        return
    bare_loop(task, 0, 20)  # warm up kernels and caches
    ratios: dict[str, list[float]] = {"cpu": [], "wall": []}
    bare_cpu: list[float] = []
    session_cpu: list[float] = []
    for r in range(args.repeats):
        if r % 2:  # alternate which goes first, so order effects cancel
            s = session_loop(task, r, args.steps, args.interval)
            b = bare_loop(task, r, args.steps)
        else:
            b = bare_loop(task, r, args.steps)
            s = session_loop(task, r, args.steps, args.interval)
        bare_cpu.append(b[0])
        session_cpu.append(s[0])
        for i, kind in enumerate(("cpu", "wall")):
            ratios[kind].append(s[i] / b[i])
        print(
            f"pair {r}: cpu bare {b[0]:.3f}s session {s[0]:.3f}s ratio {s[0] / b[0]:.4f} | "
            f"wall ratio {s[1] / b[1]:.4f}"
        )
    print(
        f"\ntask {args.task}, {args.steps} steps, interval {args.interval}, "
        f"{args.repeats} pairs, torch threads {torch.get_num_threads()}"
    )
    print(f"bare step (cpu): {statistics.median(bare_cpu) / args.steps * 1e3:.3f} ms")
    for kind in ("cpu", "wall"):
        med = statistics.median(ratios[kind])
        print(f"median session/bare {kind} ratio: {med:.4f} (overhead {100 * (med - 1):+.2f}%)")
    shares = [framework_share(task, r, args.steps, args.interval) for r in range(args.repeats)]
    share = statistics.median(shares)
    print(f"framework share inside the session (wall): {100 * share:+.2f}% of its steps' time")
    fastest = min(session_cpu) / min(bare_cpu)
    print(f"fastest session / fastest bare (cpu): {fastest:.4f} ({100 * (fastest - 1):+.2f}%)")


def controller_shares(task: dict, args: argparse.Namespace) -> dict[str, float]:
    """Each controller's median framework share over ``args.repeats`` seeds, and its excess
    over ``fixed``'s (measured first when not named)."""
    names = list(dict.fromkeys(["fixed", *args.controllers]))
    shares: dict[str, float] = {}
    for name in names:
        runs = [
            framework_share(task, r, args.steps, args.interval, name) for r in range(args.repeats)
        ]
        shares[name] = statistics.median(runs)
    print(f"task {args.task}, {args.steps} steps, interval {args.interval}, {args.repeats} seeds")
    for name, share in shares.items():
        excess = share - shares["fixed"]
        print(
            f"{name:>12}: share {100 * share:+.2f}% of its steps' time, "
            f"beyond fixed's {100 * excess:+.2f}%"
        )
    return shares


if __name__ == "__main__":
    main()
