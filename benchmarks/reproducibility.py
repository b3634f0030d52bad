"""What a task's numbers depend on: its data's checksum, and a plain loop's result.

Prints this process's provenance (versions, CPU model and kernel ISA), the sha256 of
MNIST-1D as ``mnist1d.make_dataset`` returns it (float64) and as the tasks load it
(float32), and the final metric and a weight checksum of the plain loop of docs/tasks.md
at a torch thread count. Run it twice with other settings and compare the lines
(docs/benchmarks.md, *Reproducibility*):

    python benchmarks/reproducibility.py --task mnist1d-mlp --threads 1
    OMP_NUM_THREADS=2 python benchmarks/reproducibility.py --task mnist1d-mlp --threads 2
    ATEN_CPU_CAPABILITY=avx2 python benchmarks/reproducibility.py --task mnist1d-mlp
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time

import numpy as np
import torch

from autolr.loop.trainee import make_task
from autolr.provenance import provenance


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def mnist1d_digests(data_seed: int) -> dict[str, str]:
    """The generator's float64 output and the float32 arrays tasks/mnist1d.py trains on."""
    from mnist1d.data import get_dataset_args, make_dataset

    from tasks.mnist1d import load

    args = get_dataset_args(as_dict=False)
    args.seed = data_seed
    state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(args)
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
    return {
        "float64": digest(raw["x"], raw["x_test"]),
        "labels": digest(raw["y"], raw["y_test"]),
        "float32 (tasks)": digest(*load(data_seed)),
    }


def plain_loop(spec: dict, seed: int) -> dict[str, object]:
    """docs/tasks.md's loop at the task's defaults: final metric, last loss, weights."""
    trainee = make_task(spec, seed=seed)
    info, evals = trainee.info, []
    start = time.perf_counter()
    for i in range(info.budget_steps):
        trainee.optimizer.zero_grad(set_to_none=True)
        loss = trainee.loss(trainee.batch(i))
        loss.backward()
        trainee.optimizer.step()
        if (i + 1) % info.eval_every == 0:
            evals.append(trainee.evaluate()[1])
    weights = [p.detach().cpu().numpy() for p in trainee.model.parameters()]
    return {
        "final": evals[-1],
        "last loss": repr(loss.item()),
        "weights": digest(*weights),
        "wall_s": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="mnist1d-mlp")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--no-train", action="store_true", help="only the data's checksums")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prov = provenance()
    keep = ("torch", "numpy", "scipy", "mnist1d", "cpu_model", "cpu_capability")
    print(json.dumps({k: prov[k] for k in (*keep, "torch_threads", "thread_env")}))
    if args.task.startswith("mnist1d"):
        print(json.dumps({"mnist1d data_seed 0": mnist1d_digests(0)}))
    if not args.no_train:
        result = plain_loop({"name": args.task}, args.seed)
        print(json.dumps({"task": args.task, "seed": args.seed, **result}))


if __name__ == "__main__":
    main()
