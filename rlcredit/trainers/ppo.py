"""PPO with GAE, clipped surrogate and value loss, in the order CleanRL's ``ppo.py`` reads.

collect (``num_steps`` x ``num_envs`` into preallocated storage) -> advantages (:func:`gae`, truncations
bootstrapped from the final observation) -> update (``update_epochs`` passes of shuffled minibatches,
advantage normalization per minibatch, early stop when an epoch's mean approx KL exceeds ``target_kl``).

Credit (see :mod:`rlcredit.credit.records`): the loss of a minibatch is ``-mean(min(A r, clip(r) A))``,
whose gradient for step t is ``A_t r_t grad log pi(a_t|s_t)`` where the unclipped term is the minimum
(or the two are equal) and 0 where the clipped term is strictly smaller. A step is used once per epoch;
its record keeps the **final epoch's** ratio, normalized advantage and clip status (the last epoch that
ran when ``target_kl`` stopped the update early).
"""

from __future__ import annotations

import numpy as np
import torch

from rlcredit.trainers.base import Trainer, UpdateResult, explained_variance
from rlcredit.trainers.config import PPOConfig
from rlcredit.trainers.gae import gae
from rlcredit.trainers.networks import Policy
from rlcredit.trainers.rollout import Episodes, Rollout, VecEnv, collect_steps


class PPO(Trainer):
    """Proximal policy optimization (Schulman et al. 2017, arXiv:1707.06347) with CleanRL's details."""

    cfg: PPOConfig

    def __init__(self, cfg: PPOConfig, env: VecEnv, policy: Policy, rng: np.random.Generator) -> None:
        super().__init__(cfg, env, policy, rng)
        self.buf = Rollout.empty(cfg.num_steps, cfg.num_envs, env.obs_spec.shape, env.obs_dtype)

    def collect(self) -> tuple[int, Episodes]:
        if self.obs is None:
            raise RuntimeError("PPO.collect before start(): reset the env first")
        self.obs, episodes = collect_steps(self.env, self.policy, self.buf, self.obs, self.tracker, self.rng)
        return self.cfg.batch_size, episodes

    def learn(self, update: int, lr: float) -> UpdateResult:
        cfg, buf, policy = self.cfg, self.buf, self.policy
        self.set_lr(lr)

        # Advantages: GAE over the (T, N) rollout.
        adv, ret = gae(
            buf.rewards,
            buf.values,
            buf.terminated,
            buf.truncated,
            buf.next_values,
            cfg.discount,
            cfg.gae_lambda,
        )
        b_obs = torch.as_tensor(buf.flat("obs"))
        b_actions = torch.as_tensor(buf.flat("actions"))
        b_logp = torch.as_tensor(buf.flat("logp"))
        b_adv = torch.as_tensor(adv.reshape(-1))
        b_ret = torch.as_tensor(ret.reshape(-1))
        b_values = torch.as_tensor(buf.flat("values"))
        b_t = torch.as_tensor(buf.flat("t")) if policy.time_limit is not None else None

        # Per-step record of the final epoch.
        n = cfg.batch_size
        rec_ratio = np.ones(n, np.float32)
        rec_adv = adv.reshape(-1).copy()
        rec_clipped = np.zeros(n, bool)
        rec_scale = np.ones(n, np.float32)  # divisor of the advantage: credit * scale is in return units
        rec_applied = np.zeros(n, np.float32)  # weight of grad log pi summed over epochs, return units
        first_adv = np.empty(n, np.float32)  # the credit of the first epoch (ratio 1 at theta_k)

        # Per minibatch: policy loss, value loss, entropy, approx KL, old approx KL, clip fraction; kept as
        # tensors and read once per epoch (a .item() per scalar per minibatch costs more than the arithmetic).
        stats: list[torch.Tensor] = []
        inds = np.arange(n)
        for epoch in range(cfg.update_epochs):
            self.rng.shuffle(inds)
            epoch_start = len(stats)
            for start in range(0, n, cfg.minibatch_size):
                mb_np = inds[start : start + cfg.minibatch_size]
                mb = torch.from_numpy(mb_np)
                logp_all = torch.log_softmax(policy.logits(b_obs[mb]), dim=-1)
                newlogp = logp_all.gather(1, b_actions[mb].unsqueeze(1)).squeeze(1)
                entropy = -(logp_all.exp() * logp_all).sum(-1)
                newvalue = policy.value(b_obs[mb], None if b_t is None else b_t[mb])
                logratio = newlogp - b_logp[mb]
                ratio = logratio.exp()

                mb_adv = b_adv[mb]
                mb_scale = 1.0
                if cfg.norm_adv:
                    mb_scale = float(mb_adv.std()) + 1e-8
                    mb_adv = (mb_adv - mb_adv.mean()) / mb_scale

                pg_loss1 = -mb_adv * ratio
                pg_loss2 = -mb_adv * torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                if cfg.clip_vloss:
                    v_unclipped = (newvalue - b_ret[mb]) ** 2
                    v_clipped = b_values[mb] + torch.clamp(
                        newvalue - b_values[mb], -cfg.clip_coef, cfg.clip_coef
                    )
                    v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b_ret[mb]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_ret[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - cfg.ent_coef * entropy_loss + cfg.vf_coef * v_loss
                self.check_finite(
                    loss,
                    update,
                    f"epoch {epoch}, minibatch {start // cfg.minibatch_size}",
                    policy_loss=pg_loss,
                    value_loss=v_loss,
                    entropy=entropy_loss,
                )
                self.step_optimizer(loss)

                with torch.no_grad():
                    stats.append(
                        torch.stack(
                            (
                                pg_loss,
                                v_loss,
                                entropy_loss,
                                ((ratio - 1) - logratio).mean(),
                                (-logratio).mean(),
                                ((ratio - 1.0).abs() > cfg.clip_coef).float().mean(),
                            )
                        )
                    )
                    clipped = (pg_loss2 > pg_loss1).numpy()
                    rec_ratio[mb_np] = ratio.numpy()
                    rec_adv[mb_np] = mb_adv.numpy()
                    rec_clipped[mb_np] = clipped
                    rec_scale[mb_np] = mb_scale
                    rec_applied[mb_np] += np.where(clipped, 0.0, (mb_adv * ratio).numpy() * mb_scale)
                    if epoch == 0:
                        first_adv[mb_np] = mb_adv.numpy()
            if cfg.target_kl is not None:
                epoch_kl = torch.stack(stats[epoch_start:])[:, 3].numpy().astype(np.float64).mean()
                if epoch_kl > cfg.target_kl:
                    break

        values = buf.values.reshape(-1)
        means = torch.stack(stats).numpy().astype(np.float64).mean(axis=0)
        metrics = {
            "losses/policy_loss": float(means[0]),
            "losses/value_loss": float(means[1]),
            "losses/entropy": float(means[2]),
            "losses/old_approx_kl": float(means[4]),
            "losses/approx_kl": float(means[3]),
            "losses/clipfrac": float(means[5]),
            "losses/explained_variance": explained_variance(values, ret.reshape(-1)),
            "losses/epochs": epoch + 1,
        }
        credit = np.where(rec_clipped, 0.0, rec_adv * rec_ratio).astype(np.float32)
        num_steps, num_envs = buf.actions.shape
        steps = {
            "env": np.tile(np.arange(num_envs), num_steps),
            "episode": buf.flat("episode"),
            "t": buf.flat("t"),
            "state": buf.flat("states"),
            "action": buf.flat("actions"),
            "reward": buf.flat("rewards"),
            "terminated": buf.flat("terminated"),
            "truncated": buf.flat("truncated"),
            "value": values,
            "return": ret.reshape(-1),
            "advantage": adv.reshape(-1),
            "advantage_norm": rec_adv,
            "adv_scale": rec_scale,
            "applied_weight": rec_applied,
            "logp_old": buf.flat("logp"),
            "ratio": rec_ratio,
            "clipped": rec_clipped,
            "credit": credit,
            "layout_seed": buf.flat("layout_seeds"),
        }
        return UpdateResult(metrics, steps, buf.flat("obs"), first_credit=first_adv)
