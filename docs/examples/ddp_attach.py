"""autolr.attach in a data-parallel loop: torchrun --nproc_per_node 2 docs/examples/ddp_attach.py

Each rank trains a DistributedDataParallel model on its own shard of the data. The `auto`
controller probes candidate LRs through `train_step` on every rank in lockstep and decides
from the ranks' mean losses, so every rank writes the same LR at every step. Each rank
prints its LR trace: the lines are equal.
"""

import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import autolr

BUDGET, INTERVAL = 300, 20


def batches(loader, sampler):
    """Batches forever: a new shuffle of this rank's shard each epoch."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def main() -> None:
    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR/PORT
    rank = dist.get_rank()
    torch.manual_seed(0)  # the same data and initial weights on every rank
    x = torch.randn(1024, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(1024, 1)
    data = TensorDataset(x, y)
    sampler = DistributedSampler(data, seed=0)  # each rank: its own half of the data
    stream = batches(DataLoader(data, batch_size=32, sampler=sampler), sampler)
    model = DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def train_step() -> torch.Tensor:
        """One whole step on this rank's next batch (DDP averages the gradients)."""
        inputs, targets = next(stream)
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.detach()

    # every rank attaches, and calls handle.step once per step
    handle = autolr.attach(optimizer, "auto", INTERVAL, BUDGET, train_step=train_step, model=model)
    lrs = []
    while not handle.done:
        lrs.append(optimizer.param_groups[0]["lr"])
        handle.step(train_step())
    print(json.dumps({"rank": rank, "world": int(os.environ["WORLD_SIZE"]), "lrs": lrs}))
    dist.barrier()  # no rank tears its connections down while another still uses them
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
