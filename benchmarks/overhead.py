"""Framework overhead: a Session with the `fixed` controller against a bare PyTorch loop.

Both train the same task from the same seed on the same batches with the same cosine LR;
the bare loop uses torch's CosineAnnealingLR and reads each loss with .item(), as a user's
loop would. Runs alternate (bare, session, bare, session, ...) so that machine noise hits
both alike, and the reported overhead is the median of the per-pair ratios.

    python benchmarks/overhead.py --task digits-cnn --steps 400 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from autolr.controllers import Fixed
from autolr.session import Session
from autolr.trainee import make_task


def bare_loop(task: dict, seed: int, steps: int) -> float:
    trainee = make_task(task, seed=seed)
    opt, lr = trainee.optimizer, trainee.info.lr
    for g in opt.param_groups:
        g["lr"] = lr
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    start = time.perf_counter()
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = trainee.loss(trainee.batch(i))
        loss.backward()
        opt.step()
        sched.step()
        loss.item()
    return time.perf_counter() - start


def session_loop(task: dict, seed: int, steps: int, interval: int) -> float:
    trainee = make_task(task, seed=seed)
    ctrl = Fixed({"name": "cosine", "lr": trainee.info.lr, "total_steps": steps})
    session = Session(trainee, ctrl, steps, interval, eval_every=0)
    start = time.perf_counter()
    while not session.done:
        session.advance(ctrl.propose(session.state, session.probe))
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="digits-cnn")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--interval", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: immune to noise)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    task = {"name": args.task}
    bare_loop(task, 0, 20)  # warm up kernels and caches
    ratios, bares, sessions = [], [], []
    for r in range(args.repeats):
        b = bare_loop(task, r, args.steps)
        s = session_loop(task, r, args.steps, args.interval)
        bares.append(b)
        sessions.append(s)
        ratios.append(s / b)
        print(f"repeat {r}: bare {b:.3f}s  session {s:.3f}s  ratio {s / b:.4f}")
    med = statistics.median(ratios)
    per_step = (statistics.median(sessions) - statistics.median(bares)) / args.steps * 1e6
    print(
        f"\ntask {args.task}, {args.steps} steps, interval {args.interval}, "
        f"{args.repeats} pairs, torch threads {torch.get_num_threads()}"
    )
    print(f"bare step: {statistics.median(bares) / args.steps * 1e3:.3f} ms")
    print(
        f"median session/bare ratio: {med:.4f}  (overhead {100 * (med - 1):+.2f}%, "
        f"{per_step:+.1f} us/step)"
    )


if __name__ == "__main__":
    main()
