"""``adam_step`` (the fused Adam kernels called directly) against ``torch.optim.Adam.step``: bit-identical."""

import numpy as np
import pytest
import torch

import rlcredit.trainers.base as base
from rlcredit.trainers.base import adam_step
from rlcredit.trainers.loop import train


def _params(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(64, 81), (64,), (64, 64), (64,), (5, 64), (5,)]
    return [torch.randn(s, generator=g).requires_grad_() for s in shapes]


def _grads(params: list[torch.Tensor], step: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(p.shape, generator=g) * 10.0 ** (step % 5 - 2) for p in params]


def _state(opt: torch.optim.Optimizer, params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [opt.state[p][k] for p in params for k in ("step", "exp_avg", "exp_avg_sq")]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_step_is_optimizer_step_bit_for_bit(weight_decay):
    ref, fast = _params(), _params()
    kw = {"lr": 1e-3, "eps": 1e-5, "weight_decay": weight_decay, "fused": True}
    opt_ref, opt_fast = torch.optim.Adam(ref, **kw), torch.optim.Adam(fast, **kw)
    for step in range(40):
        if step == 15:  # the learning rate annealed between steps, as with anneal_lr
            for opt in (opt_ref, opt_fast):
                opt.param_groups[0]["lr"] = 2.5e-4
        for params in (ref, fast):
            for p, g in zip(params, _grads(ref, step), strict=True):
                p.grad = g.clone()
        opt_ref.step()
        adam_step(opt_fast)
    for a, b in zip(ref, fast, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(_state(opt_ref, ref), _state(opt_fast, fast), strict=True):
        assert torch.equal(a, b)
    assert float(opt_fast.state[fast[0]]["step"]) == 40.0


def test_adam_step_skips_a_parameter_without_gradient_like_step():
    ref, fast = _params(), _params()
    opt_ref = torch.optim.Adam(ref, lr=1e-2, fused=True)
    opt_fast = torch.optim.Adam(fast, lr=1e-2, fused=True)
    for step in range(6):
        for params in (ref, fast):
            for i, (p, g) in enumerate(zip(params, _grads(ref, step), strict=True)):
                p.grad = None if (i == 2 and step >= 3) else g.clone()
        opt_ref.step()
        adam_step(opt_fast)
    for a, b in zip(ref, fast, strict=True):
        assert torch.equal(a, b)
    assert float(opt_fast.state[fast[2]]["step"]) == 3.0 and float(opt_fast.state[fast[0]]["step"]) == 6.0


def test_adam_step_runs_the_optimizers_step_hooks():
    params = _params()
    opt = torch.optim.Adam(params, lr=1e-2, fused=True)
    calls: list[str] = []
    opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    opt.register_step_post_hook(lambda *_: calls.append("post"))
    for step in range(3):
        for p, g in zip(params, _grads(params, step), strict=True):
            p.grad = g
        adam_step(opt)
    assert calls == ["pre", "post"] * 3


def test_training_with_adam_step_equals_training_with_optimizer_step(tmp_path, monkeypatch):
    cfg = {
        "num_envs": 4,
        "num_steps": 32,
        "num_minibatches": 4,
        "update_epochs": 2,
        "credit": False,
        "exact": False,
    }
    kw = {"steps": 512, "seed": 3, "wandb": "disabled", "progress": False, "config": cfg}
    fast = train("ppo", env="rlcredit/ButtonRoomBridge1-v0", out_dir=tmp_path / "fast", **kw)
    monkeypatch.setattr(base, "adam_step", lambda opt: opt.step())
    ref = train("ppo", env="rlcredit/ButtonRoomBridge1-v0", out_dir=tmp_path / "ref", **kw)
    assert fast.metrics["update"].iloc[-1] == 4
    for name in ("charts/episodic_return", "losses/value_loss", "losses/approx_kl"):
        np.testing.assert_array_equal(fast.metrics[name].to_numpy(), ref.metrics[name].to_numpy())
    ckpt = "checkpoints/ckpt_000004.safetensors"  # the policy and the optimizer state after the last update
    assert (tmp_path / "fast" / ckpt).read_bytes() == (tmp_path / "ref" / ckpt).read_bytes()
