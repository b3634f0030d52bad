import numpy as np
import pytest
import torch

from autolr.schedules import ScheduleLR, build, cosine, one_cycle


def sgd(groups=1, momentum=0.9):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=1.0, momentum=momentum)


def trace(opt, sched, n, key="lr"):
    out = []
    for _ in range(n):
        out.append([g[key] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.asarray(out)


def test_adapter_writes_the_schedule_and_equals_torch():
    opt = sgd()
    sched = ScheduleLR(opt, {"name": "cosine", "lr": 0.1, "total_steps": 50})
    ours = trace(opt, sched, 51)[:, 0]
    ref_opt = sgd()
    for g in ref_opt.param_groups:
        g["lr"] = 0.1
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=50)
    theirs = trace(ref_opt, ref, 51)[:, 0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_lr_scale_gives_layerwise_lr():
    opt = sgd(groups=3)
    opt.param_groups[1]["lr_scale"] = 0.5
    opt.param_groups[2]["lr_scale"] = 0.1
    sched = ScheduleLR(opt, cosine(lr=1.0, total_steps=10))
    lrs = trace(opt, sched, 10)
    base = cosine(lr=1.0, total_steps=10).values(np.arange(10))
    np.testing.assert_allclose(lrs, np.stack([base, 0.5 * base, 0.1 * base], 1), rtol=1e-15)


def test_one_schedule_per_group():
    opt = sgd(groups=2)
    a, b = cosine(lr=1.0, total_steps=10), build({"name": "constant", "lr": 0.3})
    lrs = trace(opt, ScheduleLR(opt, [a, b]), 10)
    np.testing.assert_allclose(lrs[:, 0], a.values(np.arange(10)))
    assert np.all(lrs[:, 1] == 0.3)
    with pytest.raises(ValueError, match="param groups"):
        ScheduleLR(sgd(groups=2), [a])


def test_momentum_is_driven_for_sgd_and_adam():
    s = one_cycle(max_lr=0.1, total_steps=30)
    opt = sgd()
    moms = trace(opt, ScheduleLR(opt, s), 30, key="momentum")[:, 0]
    np.testing.assert_allclose(moms, s.momentum.values(np.arange(30)), rtol=1e-15)
    adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=1.0, betas=(0.9, 0.99))
    sched = ScheduleLR(adam, s)
    betas = []
    for _ in range(30):
        betas.append(adam.param_groups[0]["betas"])
        adam.step()
        sched.step()
    assert [b[0] for b in betas] == pytest.approx(s.momentum.values(np.arange(30)).tolist())
    assert all(b[1] == 0.99 for b in betas)


@pytest.mark.parametrize("cut", [0, 1, 17, 49])
def test_state_dict_round_trip_continues_bit_identically(cut):
    spec = {"name": "one_cycle", "max_lr": 0.1, "total_steps": 60}
    opt = sgd()
    full = trace(opt, ScheduleLR(opt, spec), 60)
    opt2 = sgd()
    first = ScheduleLR(opt2, spec)
    head = trace(opt2, first, cut)
    saved = first.state_dict()
    torch.save(saved, "/dev/null")  # plain data: picklable
    opt3 = sgd()
    resumed = ScheduleLR(opt3, spec)
    resumed.load_state_dict(saved)
    tail = trace(opt3, resumed, 60 - cut)
    got = np.concatenate([head.reshape(-1, 1), tail]) if cut else tail
    np.testing.assert_array_equal(got, full)
    assert opt3.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]


def test_load_state_dict_for_another_schedule_fails_clearly():
    opt = sgd()
    saved = ScheduleLR(opt, cosine(lr=0.1, total_steps=10)).state_dict()
    other = ScheduleLR(sgd(), cosine(lr=0.2, total_steps=10))
    with pytest.raises(ValueError, match="other schedules"):
        other.load_state_dict(saved)


def test_bad_lr_scale_names_the_group():
    opt = sgd(groups=2)
    opt.param_groups[1]["lr_scale"] = -1
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['lr_scale'\]"):
        ScheduleLR(opt, cosine(lr=0.1, total_steps=10))
