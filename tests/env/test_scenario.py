"""Scenario sampling: determinism, tiers across orders of magnitude, value models (hotel room blocks too),
catalogues and domains."""

import hashlib
import json
import math
import random
import subprocess
import sys

import pytest
from haggle.env.catalogue import default_catalogue, load_catalogue
from haggle.env.hotel_pricing import (
    HotelMarket,
    RoomBlockSpec,
    TourOperator,
    block_opportunity_cost,
    draw_room_block,
    posted_price_baseline,
)
from haggle.env.scenario import ROOM_BLOCK_TIER, SamplerConfig, Scenario, ScenarioSampler, room_block_prior


def test_same_seed_same_scenarios_other_seed_differs():
    sampler = ScenarioSampler()
    assert sampler.sample(200, seed=5) == ScenarioSampler().sample(200, seed=5)
    assert sampler.sample(200, seed=5) != sampler.sample(200, seed=6)


def test_scenarios_are_stable_across_processes():
    """No dependence on hash randomisation or process state: a fresh interpreter draws the same values."""
    code = (
        "from haggle.env.scenario import ScenarioSampler; "
        "print([(s.buyer_value, s.seller_cost) for s in ScenarioSampler().sample(20, 11)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
        ).stdout
        for seed in (1, 2)
    }
    assert len(outputs) == 1


def test_draw_rebuilds_a_scenario_from_its_row():
    sampler = ScenarioSampler()
    for scenario in sampler.sample(10, seed=2):
        assert sampler.draw(scenario.seed, tier=scenario.price_tier, domain=scenario.domain.name) == scenario


def test_default_tiers_span_four_orders_of_magnitude_and_values_sit_around_the_reference():
    sampler = ScenarioSampler()
    scenarios = sampler.sample(500, seed=0)
    references = sorted({s.item.reference_price for s in scenarios})
    assert len(sampler.tier_names) >= 4 and references[-1] / references[0] >= 1e4
    for s in scenarios:
        assert s.value_low <= s.buyer_value <= s.value_high and s.value_low <= s.seller_cost <= s.value_high
        assert s.value_low == pytest.approx(0.5 * s.item.reference_price)


def test_uniform_values_have_no_zone_about_half_the_time_and_the_share_is_configurable():
    natural = ScenarioSampler().sample(4000, seed=1)
    assert abs(sum(not s.has_zone_of_agreement for s in natural) / 4000 - 0.5) < 0.03
    forced = ScenarioSampler(SamplerConfig(no_zone_share=0.2)).sample(4000, seed=1)
    assert abs(sum(not s.has_zone_of_agreement for s in forced) / 4000 - 0.2) < 0.03


def test_correlated_values_are_correlated():
    def correlation(scenarios):
        xs = [(s.buyer_value - s.value_low) / (s.value_high - s.value_low) for s in scenarios]
        ys = [(s.seller_cost - s.value_low) / (s.value_high - s.value_low) for s in scenarios]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        return cov / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))

    assert abs(correlation(ScenarioSampler().sample(3000, seed=4))) < 0.06
    assert correlation(ScenarioSampler(SamplerConfig(value_model="correlated")).sample(3000, seed=4)) > 0.6


def test_domains_change_framing_not_economics():
    abstract = ScenarioSampler(SamplerConfig(domains=["abstract"])).sample(50, seed=9)
    hotel = ScenarioSampler(SamplerConfig(domains=["hotel_b2b"])).sample(50, seed=9)
    assert [(a.buyer_value, a.seller_cost) for a in abstract] != []
    assert all(h.currency == "EUR" for h in hotel) and all(a.currency == "USD" for a in abstract)
    assert [a.price_tier for a in abstract] == [h.price_tier for h in hotel]


def test_a_new_domain_is_one_yaml_entry(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "scenarios:\n  domains: [art]\n  extra_domains:\n    art:\n      currency: GBP\n"
        "      currency_symbol: '£'\n      item_source: template\n      item_title: a painting\n"
        "      buyer_label: collector\n      seller_label: gallery\n      setting: An art sale.\n"
    )
    scenario = ScenarioSampler(SamplerConfig.from_yaml(config)).sample(1, seed=0)[0]
    assert scenario.currency == "GBP" and scenario.item.title == "a painting"


def test_unknown_settings_and_domains_fail_loudly():
    with pytest.raises(
        ValueError, match=r"unknown scenario setting 'tierz' \(did you mean 'tiers'\?\); known: "
    ):
        SamplerConfig.from_mapping({"tierz": [1]})
    with pytest.raises(ValueError, match="unknown domain"):
        ScenarioSampler(SamplerConfig(domains=["moon_rocks"]))


def test_catalogue_tiers_and_quantile_tiers():
    sampler = ScenarioSampler(SamplerConfig(domains=["marketplace"], quantile_tiers=4))
    assert len(sampler.tier_names) == 4
    for scenario in sampler.sample(40, seed=1):
        tier = sampler.tier_by_name[scenario.price_tier]
        assert tier.contains(scenario.item.reference_price)
    assert len(default_catalogue()) >= 40


def test_load_catalogue_csv_jsonl_and_craigslist(tmp_path):
    csv_file = tmp_path / "items.csv"
    csv_file.write_text("title,category,description,reference_price\nLamp,home,Brass lamp,40\n")
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(
        json.dumps({"title": "Bike", "category": "bike", "description": "", "reference_price": 300})
    )
    craigslist = tmp_path / "train.json"
    craigslist.write_text(
        json.dumps(
            [
                {
                    "scenario": {
                        "kbs": [
                            {
                                "item": {
                                    "Title": "Sofa",
                                    "Category": "furniture",
                                    "Description": ["Blue", "comfy"],
                                    "Price": 250,
                                }
                            },
                            {
                                "item": {
                                    "Title": "Sofa",
                                    "Category": "furniture",
                                    "Description": ["Blue", "comfy"],
                                    "Price": 250,
                                }
                            },
                        ]
                    }
                },
                {
                    "scenario": {
                        "kbs": [
                            {
                                "item": {
                                    "Title": "Free junk",
                                    "Category": "misc",
                                    "Description": [],
                                    "Price": -1,
                                }
                            }
                        ]
                    }
                },
            ]
        )
    )
    assert load_catalogue(csv_file)[0].reference_price == 40
    assert load_catalogue(jsonl)[0].title == "Bike"
    (sofa,) = load_catalogue(craigslist)
    assert sofa.description == "Blue comfy" and sofa.reference_price == 250
    bad = tmp_path / "bad.csv"
    bad.write_text("title,category\nLamp,home\n")
    with pytest.raises(ValueError, match="reference_price"):
        load_catalogue(bad)


def test_scenario_round_trips_through_json():
    for scenario in ScenarioSampler(SamplerConfig(domains=["marketplace", "hotel_b2b"])).sample(10, seed=3):
        assert Scenario.from_dict(json.loads(json.dumps(scenario.to_dict()))) == scenario


# -- pinned draws ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "digest"),
    [
        ({}, "317f95a8cfd0cc3b"),
        ({"value_model": "correlated", "correlation": 0.5, "first_mover": "random"}, "139dc17c1437d60c"),
        (
            {"no_zone_share": 0.3, "domains": ["abstract", "marketplace", "hotel_b2b"], "spread": 0.3},
            "af7930c363126544",
        ),
    ],
    ids=["uniform", "correlated", "no_zone_share"],
)
def test_the_tier_value_models_draw_bit_identical_scenarios(settings, digest):
    """Stored runs and GRPO tables rebuild scenarios from seeds: a new value model must not move the old draws."""
    scenarios = ScenarioSampler(SamplerConfig(**settings)).sample(300, seed=12)
    text = json.dumps([scenario.to_dict() for scenario in scenarios], sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest


# -- hotel room blocks -------------------------------------------------------------------------------------------
HOTEL = SamplerConfig(value_model="hotel_room_block", domains=["hotel_b2b"], max_rounds=5)
PUBLIC_FACTS = {"block_rooms", "nights", "days_to_arrival", "rack_rate", "naive_posted_price"}


def test_room_blocks_take_their_values_from_the_hotel_model_and_show_only_public_facts():
    sampler = ScenarioSampler(HOTEL)
    assert sampler.tier_names == [ROOM_BLOCK_TIER]
    scenarios = sampler.sample(60, seed=0)
    for scenario in scenarios:
        deal = draw_room_block(random.Random(scenario.seed), RoomBlockSpec())
        assert (scenario.buyer_value, scenario.seller_cost) == (deal.buyer_value, deal.seller_cost)
        facts = scenario.context
        assert set(facts) == PUBLIC_FACTS and {k: facts[k] for k in deal.context} == deal.context
        assert (
            facts["naive_posted_price"] == posted_price_baseline(deal).price == scenario.item.reference_price
        )
        assert facts["naive_posted_price"] == round(
            facts["rack_rate"] * facts["block_rooms"] * facts["nights"], 2
        )
        assert scenario.value_low <= min(scenario.buyer_value, scenario.seller_cost)
        assert max(scenario.buyer_value, scenario.seller_cost) <= scenario.value_high
        # the prior is a function of the public facts alone
        assert (scenario.value_low, scenario.value_high) == room_block_prior(facts, RoomBlockSpec())
        assert scenario.currency == "EUR" and scenario.item.title == "a hotel room-block contract"
    assert 0.05 < sum(not s.has_zone_of_agreement for s in scenarios) / len(scenarios) < 0.95


def test_the_room_block_prior_holds_at_the_extremes_of_every_private_range():
    """The bounds are for every deal the spec allows, not just the ones drawn: push each private draw to its ends."""
    spec = RoomBlockSpec()
    facts = {"block_rooms": 15, "nights": 2, "days_to_arrival": 60, "rack_rate": 120.0}
    low, high = room_block_prior(facts, spec)
    for inventory in (15, 100):
        for arrival in spec.arrival_probability:
            for salvage in spec.salvage_share:
                market = HotelMarket(inventory, 60 * spec.periods_per_day, arrival, 120.0, 2, 120.0 * salvage)
                assert low <= block_opportunity_cost(market, 15) <= high
    for markup in spec.resale_markup:
        for other in spec.other_costs_share:
            assert low <= TourOperator(120.0 * markup, other).block_value(15, 2) <= high


def test_room_blocks_are_deterministic_and_rebuild_from_their_row():
    sampler = ScenarioSampler(HOTEL)
    scenarios = sampler.sample(20, seed=4)
    assert scenarios == ScenarioSampler(HOTEL).sample(20, seed=4) != sampler.sample(20, seed=5)
    for scenario in scenarios[:5]:
        assert sampler.draw(scenario.seed, tier=scenario.price_tier, domain="hotel_b2b") == scenario
        assert Scenario.from_dict(json.loads(json.dumps(scenario.to_dict()))) == scenario


def test_the_hotel_mapping_sets_the_room_block_ranges():
    config = SamplerConfig.from_mapping(
        {
            "value_model": "hotel_room_block",
            "domains": ["hotel_b2b"],
            "hotel": {"nights": 3, "rack_rate": [90, 110]},
        }
    )
    assert config.room_block_spec() == RoomBlockSpec(nights=(3, 3), rack_rate=(90, 110))
    for scenario in ScenarioSampler(config).sample(10, seed=1):
        assert scenario.context["nights"] == 3 and 90 <= scenario.context["rack_rate"] <= 110


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hotel": {"nights": 2}}, "go with `value_model: hotel_room_block`"),
        ({"value_model": "hotel_room_block", "hotel": {"night": 2}}, "hotel: unknown setting 'night'"),
        (
            {"value_model": "hotel_room_block", "hotel": {"nights": [1, 2, 3]}},
            "hotel.nights must be a list of 2",
        ),
        ({"value_model": "hotel_room_block", "hotel": {"nights": [3, 1]}}, "low <= high"),
        (
            {"value_model": "hotel_room_block", "hotel": {"periods_per_day": [2, 4]}},
            "periods_per_day must be an integer",
        ),
        ({"value_model": "hotel_room_block", "tiers": [100]}, "drop `tiers`"),
        ({"value_model": "hotel_room_block", "no_zone_share": 0.2}, "does not apply"),
        ({"value_model": "lognormal"}, "value_model must be one of"),
    ],
)
def test_bad_hotel_settings_fail_with_a_clear_message(settings, message):
    with pytest.raises(ValueError, match=message):
        SamplerConfig.from_mapping(settings)


def test_room_blocks_need_a_template_domain():
    with pytest.raises(ValueError, match="template domains"):
        ScenarioSampler(SamplerConfig(value_model="hotel_room_block", domains=["marketplace"]))
