"""The GRPO training set: a table of scenario seeds, one row per negotiation the policy will play.

A row holds only what rebuilds its episode exactly: the scenario's seed, price tier and domain (for
`ScenarioSampler.draw`), the side the model plays, the opponent it faces (a name from the run's weighted
`opponents` mix) and the opponent's seed; plus the `prompt` column TRL requires, the system prompt for that side of
that scenario. GRPOTrainer repeats each row `num_generations` times and `NegotiationEnv.reset(**row)` rebuilds the
same deal and the same opponent for every copy, so advantages compare rollouts of one negotiation against one
opponent. Tiers, roles and domains are balanced round-robin; the opponent is drawn by weight, and everything else
comes from seeds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from haggle.env.negotiation import Negotiation
from haggle.env.prompts import system_prompt
from haggle.env.scenario import ROLES, Role, ScenarioSampler, derive_seed

COLUMNS = ("prompt", "scenario_seed", "tier", "domain", "role", "opponent", "opponent_seed")


def build_scenario_table(
    sampler: ScenarioSampler,
    count: int,
    seed: int,
    *,
    opponents: Mapping[str, float],
    roles: Sequence[Role] = ROLES,
    tier_names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """`count` rows; row i depends only on (seed, i), the sampler's settings and `opponents` (name -> weight, the
    chance of a row facing that opponent is its share of the total weight)."""
    tiers = list(tier_names or sampler.tier_names)
    domains = sampler.config.domains
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be a non-empty subset of {ROLES}, got {list(roles)}")
    if not opponents or min(opponents.values()) <= 0:
        raise ValueError(f"opponents must map at least one name to a positive weight, got {dict(opponents)}")
    names, weights = list(opponents), list(opponents.values())
    rows = []
    for index in range(count):
        tier = tiers[index % len(tiers)]
        role = roles[(index // len(tiers)) % len(roles)]
        domain = domains[(index // (len(tiers) * len(roles))) % len(domains)]
        scenario_seed = derive_seed("grpo-scenario", seed, index)
        scenario = sampler.draw(scenario_seed, tier=tier, domain=domain)
        view = Negotiation(scenario).view(role)
        pick = random.Random(derive_seed("grpo-opponent-choice", seed, index))
        rows.append(
            {
                "prompt": [
                    {"role": "system", "content": system_prompt(view)},
                    {"role": "user", "content": ""},
                ],
                "scenario_seed": scenario_seed,
                "tier": tier,
                "domain": domain,
                "role": role,
                "opponent": pick.choices(names, weights)[0],
                "opponent_seed": derive_seed("grpo-opponent", seed, index),
            }
        )
    return rows
