"""REINFORCE (Williams 1992) on complete episodes, with an optional baseline and entropy bonus.

Each update collects **one complete episode per sub-environment** (:func:`collect_episodes`: every
sub-env is reset, run to the end of its episode, and later steps are discarded), computes the discounted
Monte Carlo return-to-go ``G_t`` of every step (no bootstrapping anywhere, including at time limits: the
return of a time-limited episode is the finite-horizon return the exact model measures), and takes one
gradient step on ``-mean_t (G_t - b(s_t)) log pi(a_t|s_t)``.

Why complete episodes: keeping only the episodes that happen to end inside a fixed-length window would
favour short episodes, and bootstrapping cut episodes from a critic would make the credit partly a TD
estimate. One episode per sub-env per update is the textbook estimator, unbiased for any baseline.

Baselines: ``"value"`` a critic V(s_t) fitted to G_t by the same update (value loss ``vf_coef``);
``"batch_mean"`` the mean return of the batch's steps; ``"none"``.
"""

from __future__ import annotations

import numpy as np
import torch

from rlcredit.trainers.base import Trainer, UpdateResult, explained_variance, normalize
from rlcredit.trainers.config import ReinforceConfig
from rlcredit.trainers.gae import returns_to_go
from rlcredit.trainers.networks import Policy
from rlcredit.trainers.rollout import Episodes, Rollout, VecEnv, collect_episodes


class Reinforce(Trainer):
    """REINFORCE with baseline; see the module docstring for the episode collection."""

    cfg: ReinforceConfig

    def __init__(self, cfg: ReinforceConfig, env: VecEnv, policy: Policy, rng: np.random.Generator) -> None:
        super().__init__(cfg, env, policy, rng)
        self.max_steps = cfg.max_episode_steps or env.time_limit or 1000
        self.buf = Rollout.empty(self.max_steps, cfg.num_envs, env.obs_spec.shape, env.obs_dtype)
        self.used = 0

    def start(self, seed: int) -> None:
        # Every rollout resets the env itself; this reset only seeds its random stream.
        self.env.reset(seed=seed)

    def collect(self) -> tuple[int, Episodes]:
        self.used, episodes = collect_episodes(self.env, self.policy, self.buf, self.tracker, self.rng)
        return int(self.buf.valid[: self.used].sum()), episodes

    def learn(self, update: int, lr: float) -> UpdateResult:
        cfg, buf, policy, used = self.cfg, self.buf, self.policy, self.used
        self.set_lr(lr)

        # Returns-to-go and baseline, over the valid steps only.
        done = buf.terminated[:used] | buf.truncated[:used]
        G = returns_to_go(buf.rewards[:used], done, cfg.discount)
        valid = buf.valid[:used].reshape(-1)
        ret = G.reshape(-1)[valid]
        if cfg.baseline == "value":
            baseline = buf.flat("values", used)[valid]
        elif cfg.baseline == "batch_mean":
            baseline = np.full_like(ret, ret.mean())
        else:
            baseline = np.zeros_like(ret)
        adv = ret - baseline
        adv_used = normalize(adv) if cfg.norm_adv else adv
        # the divisor of the advantage: credit * adv_scale is in return units
        adv_scale = float(adv.std(ddof=1)) + 1e-8 if cfg.norm_adv and adv.size > 1 else 1.0

        obs_np = buf.flat("obs", used)[valid]
        obs = torch.as_tensor(obs_np)
        actions = torch.as_tensor(buf.flat("actions", used)[valid])
        logp_old = buf.flat("logp", used)[valid]

        logp_all = torch.log_softmax(policy.logits(obs), dim=-1)
        logp = logp_all.gather(1, actions.unsqueeze(1)).squeeze(1)
        entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
        pg_loss = -(torch.as_tensor(adv_used) * logp).mean()
        loss = pg_loss - cfg.ent_coef * entropy
        v_loss = torch.zeros(())
        if cfg.baseline == "value":
            t = buf.flat("t", used)[valid] if policy.time_limit is not None else None
            v_loss = 0.5 * ((policy.value(obs, t) - torch.as_tensor(ret)) ** 2).mean()
            loss = loss + cfg.vf_coef * v_loss
        self.check_finite(
            loss, update, "the gradient step", policy_loss=pg_loss, value_loss=v_loss, entropy=entropy
        )
        self.step_optimizer(loss)

        with torch.no_grad():
            logp_new = (
                torch.log_softmax(policy.logits(obs), dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
            )
            logratio = logp_new - torch.as_tensor(logp_old)
            approx_kl = ((logratio.exp() - 1) - logratio).mean().item()
        metrics = {
            "losses/policy_loss": pg_loss.item(),
            "losses/value_loss": v_loss.item(),
            "losses/entropy": entropy.item(),
            "losses/approx_kl": approx_kl,
            "losses/clipfrac": 0.0,
            "losses/explained_variance": explained_variance(baseline, ret),
        }
        n = len(ret)
        steps = {
            "env": np.tile(np.arange(cfg.num_envs), used)[valid],
            "episode": buf.flat("episode", used)[valid],
            "t": buf.flat("t", used)[valid],
            "state": buf.flat("states", used)[valid],
            "action": buf.flat("actions", used)[valid],
            "reward": buf.flat("rewards", used)[valid],
            "terminated": buf.flat("terminated", used)[valid],
            "truncated": buf.flat("truncated", used)[valid],
            "value": baseline,
            "return": ret,
            "advantage": adv,
            "advantage_norm": adv_used,
            "adv_scale": np.full(adv_used.shape, adv_scale, np.float32),
            "applied_weight": adv_used * adv_scale,
            "logp_old": logp_old,
            "ratio": np.ones(n, np.float32),
            "clipped": np.zeros(n, bool),
            "credit": adv_used,
            "layout_seed": buf.flat("layout_seeds", used)[valid],
        }
        return UpdateResult(
            metrics, steps, obs_np, logp_new.numpy(), first_credit=np.asarray(adv_used, np.float32)
        )
