"""Optimizer peers: documented settings, errors, evaluation points and BatchNorm statistics."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import autolr
from autolr.controllers import Fixed
from autolr.loop.session import Session
from autolr.peers import PEERS, MissingPackage, PeerTrainee, make_peer
from autolr.peers import base as peer_base
from autolr.peers.base import has_batchnorm
from tests.peers.bn import BatchNormTrainee
from tests.toy import ToyTrainee

NAMES = ["dadapt-adam", "dog", "prodigy", "schedulefree-adamw", "schedulefree-sgd"]


def peer_trainee(name, inner=None, budget=200, **params):
    return PeerTrainee(inner or ToyTrainee(seed=0), make_peer({"name": name, **params}), budget)


def session_of(trainee, budget=200, interval=10, eval_every=0):
    return Session(
        trainee, Fixed(trainee.controller["schedule"]), budget, interval, eval_every=eval_every
    )


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_the_registry_holds_the_five_peers():
    assert PEERS.names() == NAMES


# ---- documented settings -------------------------------------------------------------------


def test_schedule_free_adamw_runs_at_algoperfs_self_tuning_settings():
    t = peer_trainee("schedulefree-adamw")
    (group,) = t.optimizer.param_groups
    assert type(t.optimizer).__name__ == "AdamWScheduleFree"
    assert group["lr"] == 0.0025 and group["betas"] == (0.9, 0.9955159689799007)
    assert group["weight_decay"] == 0.08121616522670176
    assert group["r"] == 0.75 and group["weight_lr_power"] == 2.0
    assert group["warmup_steps"] == 4  # 2% of 200
    assert group["train_mode"] is True  # the package starts in eval mode, which cannot step
    assert t.controller == {"name": "fixed", "schedule": {"name": "constant", "lr": 0.0025}}
    assert (t.info.lr, t.info.min_lr, t.info.max_lr) == (0.0025, 0.0, 1.0)
    assert (
        peer_trainee("schedulefree-adamw", warmup_steps=7).optimizer.param_groups[0]["warmup_steps"]
        == 7
    )


def test_schedule_free_sgd_runs_at_the_package_defaults_with_warmup():
    t = peer_trainee("schedulefree-sgd", budget=1000)
    (group,) = t.optimizer.param_groups
    assert type(t.optimizer).__name__ == "SGDScheduleFree"
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (1.0, 0.9, 0)
    assert group["warmup_steps"] == 20
    assert t.controller["schedule"] == {"name": "constant", "lr": 1.0}
    assert t.info.max_lr == 10.0


def test_prodigy_runs_at_lr_1_under_cosine_with_safeguard_warmup_only_with_a_warmup():
    t = peer_trainee("prodigy")
    (group,) = t.optimizer.param_groups
    assert type(t.optimizer).__name__ == "Prodigy"
    assert (group["lr"], group["d"], group["safeguard_warmup"]) == (1.0, 1e-6, False)
    assert t.controller["schedule"] == {"name": "cosine", "lr": 1.0, "total_steps": 200}
    warm = peer_trainee("prodigy", warmup_steps_frac=0.05)
    assert warm.optimizer.param_groups[0]["safeguard_warmup"] is True
    assert warm.controller["schedule"]["warmup_steps"] == 10
    asked = peer_trainee("prodigy", warmup_steps=10, safeguard_warmup=False)
    assert asked.optimizer.param_groups[0]["safeguard_warmup"] is False  # the spec decides
    assert peer_trainee("prodigy", d_coef=2.0).optimizer.param_groups[0]["d_coef"] == 2.0


def test_dadapt_adam_runs_at_lr_1_under_cosine():
    t = peer_trainee("dadapt-adam", budget=300)
    assert type(t.optimizer).__name__ == "DAdaptAdam"
    assert t.optimizer.param_groups[0]["lr"] == 1.0
    assert t.controller["schedule"] == {"name": "cosine", "lr": 1.0, "total_steps": 300}
    assert (t.info.min_lr, t.info.max_lr) == (0.0, 10.0)


def test_dog_takes_reps_rel_by_the_batchnorm_rule_and_ldog_on_request():
    t = peer_trainee("dog")
    assert type(t.optimizer).__name__ == "DoG"
    assert t.optimizer.param_groups[0]["reps_rel"] == 1e-6
    assert t.controller["schedule"] == {"name": "constant", "lr": 1.0}
    bn = peer_trainee("dog", inner=BatchNormTrainee())
    assert bn.optimizer.param_groups[0]["reps_rel"] == 1e-4
    assert peer_trainee("dog", reps_rel=1e-3).optimizer.param_groups[0]["reps_rel"] == 1e-3
    assert type(peer_trainee("dog", layerwise=True).optimizer).__name__ == "LDoG"
    assert t.eval_point.averager.gamma == 8.0


def test_only_cifar10_resnet_has_batchnorm():
    from tasks.cifar10 import resnet
    from tasks.models import conv_net, mlp

    assert has_batchnorm(resnet(4, 1, [0.5] * 3, [0.25] * 3))
    assert not has_batchnorm(conv_net(1, (8, 8), 4, 2, 10))
    assert not has_batchnorm(mlp(10, 4, 2, 3))


# ---- errors --------------------------------------------------------------------------------


def test_an_unknown_peer_gets_a_did_you_mean():
    with pytest.raises(
        ValueError,
        match=r"unknown optimizer peer 'prodgy' \(did you mean 'prodigy'\?\); known: dadapt-",
    ):
        make_peer({"name": "prodgy"})
    with pytest.raises(ValueError, match=r"config key 'optimizer': unknown optimizer peer 'dgo'"):
        autolr.run({"task": {"name": "toy"}, "optimizer": {"name": "dgo"}})
    with pytest.raises(ValueError, match=r"config: optimizer.name is required"):
        autolr.run({"task": {"name": "toy"}, "optimizer": {"lr": 1.0}})


def test_an_unknown_parameter_is_named_with_the_accepted_ones():
    with pytest.raises(ValueError) as err:
        autolr.run({"task": {"name": "toy"}, "optimizer": {"name": "prodigy", "d_cof": 2}})
    message = str(err.value)
    assert message.startswith(
        "config key 'optimizer': unknown parameter 'd_cof' for optimizer peer 'prodigy' "
        "(did you mean 'd_coef'?); accepted: lr, betas, beta3, eps,"
    )
    assert message.endswith("warmup_steps, warmup_steps_frac, bn_batches")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"name": "prodigy", "lr": -1}, "config: optimizer.lr must be > 0, got -1.0"),
        ({"name": "dog", "layerwise": "yes"}, "config: optimizer.layerwise must be true or false"),
        ({"name": "dog", "gamma": -1}, "config: optimizer.gamma must be >= 0"),
        (
            {"name": "schedulefree-sgd", "warmup_steps_frac": 1.5},
            "config: optimizer.warmup_steps_frac must be in [0, 1], got 1.5",
        ),
        ({"name": "prodigy", "bn_batches": 2.5}, "config: optimizer.bn_batches must be an integer"),
        (
            {"name": "prodigy", "warmup_steps": 3, "warmup_steps_frac": 0.1},
            "give warmup_steps or warmup_steps_frac (a fraction of the budget), not both",
        ),
        (
            {"name": "prodigy", "betas": [0.9, 1.5]},
            "config key 'optimizer': optimizer peer 'prodigy': Invalid beta parameter at index 1",
        ),
    ],
)
def test_a_bad_parameter_value_is_refused_naming_it(spec, needle):
    with pytest.raises(ValueError) as err:
        autolr.run({"task": {"name": "toy"}, "optimizer": spec, "budget_steps": 20})
    assert needle in str(err.value)


def test_a_peak_above_the_peers_max_lr_is_refused_before_training():
    with pytest.raises(ValueError, match=r"peak LR 20 is above max_lr 10"):
        autolr.run({"task": {"name": "toy"}, "optimizer": {"name": "prodigy", "lr": 20}})


def test_a_missing_package_names_what_to_pip_install(monkeypatch):
    real = peer_base.importlib.import_module

    def no_prodigy(name, *args):
        if name == "prodigyopt":
            raise ImportError("No module named 'prodigyopt'")
        return real(name, *args)

    monkeypatch.setattr(peer_base.importlib, "import_module", no_prodigy)
    with pytest.raises(MissingPackage, match=r"install it with: pip install prodigyopt"):
        make_peer({"name": "prodigy"})
    with pytest.raises(
        ValueError, match=r"config key 'optimizer': the optimizer peer needs the 'prodigyopt'"
    ):
        autolr.run({"task": {"name": "toy"}, "optimizer": {"name": "prodigy"}})
    make_peer({"name": "dog"})  # the others are unaffected


def test_the_packages_are_imported_only_when_a_peer_is_used():
    code = (
        "import sys, autolr.peers, autolr.running.runner, autolr.bench.suite\n"
        "from autolr.peers import make_peer\n"
        "names = ('schedulefree', 'prodigyopt', 'dadaptation', 'dog')\n"
        "gone = [m for m in names if m in sys.modules]\n"
        "assert not gone, gone\n"
        "make_peer('prodigy')\n"
        "assert 'prodigyopt' in sys.modules and 'dog' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---- evaluation points ---------------------------------------------------------------------


def trained(name, inner=None, steps=40, **params):
    t = peer_trainee(name, inner=inner, budget=steps, **params)
    s = session_of(t, budget=steps)
    while s.turn():
        pass
    return t


def test_schedule_free_is_evaluated_at_x_and_goes_back_to_y_bit_for_bit():
    t = trained("schedulefree-adamw")
    before = state(t.model)
    val, test = t.evaluate("val"), t.evaluate("test")
    assert_same(state(t.model), before)  # the training point y, bit for bit
    assert all(g["train_mode"] for g in t.optimizer.param_groups)
    at_y = t.inner.evaluate("val")
    t.optimizer.eval()  # what the package asks for: evaluate at x
    at_x, test_x = t.inner.evaluate("val"), t.inner.evaluate("test")
    t.optimizer.train()
    assert val == at_x and test == test_x
    assert val != at_y


def test_dog_is_evaluated_at_its_averaged_iterate():
    t = trained("dog")
    averaged = t.eval_point.averager.averaged_model
    assert t.eval_point.averager.t == 41  # stepped once per optimizer step
    before = state(t.model)
    val = t.evaluate("val")
    assert_same(state(t.model), before)
    at_train_point = t.inner.evaluate("val")
    with torch.no_grad():
        for p, a in zip(t.model.parameters(), averaged.parameters(), strict=True):
            p.copy_(a)
    assert t.inner.evaluate("val") == val != at_train_point
    t.model.load_state_dict(before)


@pytest.mark.parametrize("name", ["prodigy", "dadapt-adam"])
def test_d_adaptation_peers_are_evaluated_where_they_train(name):
    t = trained(name)
    assert t.eval_point is None
    assert t.evaluate("val") == t.inner.evaluate("val")


@pytest.mark.parametrize("name", ["schedulefree-adamw", "dog"])
def test_evaluations_leave_training_untouched(name):
    runs = []
    for eval_every in (5, 0):
        torch.manual_seed(0)  # the dropout draws
        t = peer_trainee(name, inner=BatchNormTrainee(seed=2), budget=40)
        s = session_of(t, budget=40, eval_every=eval_every)
        s.run()
        runs.append((s.history.step_array("train_loss"), state(t.model), s.history))
    (losses_a, model_a, hist_a), (losses_b, model_b, _) = runs
    assert len(hist_a.eval_array("step")) == 9  # step 0, every 5 steps, and the end
    assert losses_a.tolist() == losses_b.tolist()
    assert_same(model_a, model_b)


# ---- BatchNorm statistics at the evaluation point ------------------------------------------


def test_batchnorm_statistics_are_the_average_over_fixed_training_batches_at_x():
    t = trained("schedulefree-adamw", inner=BatchNormTrainee(seed=1), bn_batches=3)
    bn = t.model[1]
    before, rng = state(t.model), torch.get_rng_state()
    val = t.evaluate("val")
    assert_same(state(t.model), before)  # the training run's statistics are back
    assert torch.equal(torch.get_rng_state(), rng)  # no dropout draw, no RNG consumed
    assert t.model.training and t.model[3].training and bn.momentum == 0.1

    t.optimizer.eval()  # by hand: at x, the mean and unbiased variance of batches 0, 1, 2
    with torch.no_grad():
        h = [t.model[0](t.inner.inputs(i)) for i in range(3)]
        mean = torch.stack([a.mean(0) for a in h]).mean(0)
        var = torch.stack([a.var(0, unbiased=True) for a in h]).mean(0)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    by_hand = t.inner.evaluate("val")
    t.optimizer.train()
    t.model.load_state_dict(before)
    assert val == pytest.approx(by_hand, rel=1e-6)
    stale = trained("schedulefree-adamw", inner=BatchNormTrainee(seed=1), bn_batches=0)
    assert stale.evaluate("val") != pytest.approx(val, rel=1e-3)  # the statistics matter


def test_autolr_list_peers_prints_each_with_a_description(capsys):
    from autolr.cli import main

    assert main(["list", "peers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    assert "AlgoPerf's self-tuning settings" in lines[3]
