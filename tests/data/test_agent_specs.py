"""Agent specs: validation, secrets refused, identity, building scripted and LLM agents."""

import importlib.util
import random

import pytest
from haggle.data.agent_specs import AgentSpec, build_agent, shared_backend
from haggle.data.backends.openai_endpoint import EndpointConfig
from haggle.data.backends.reliability import RetryPolicy
from haggle.data.llm_agent import LLMAgent
from haggle.data.run_directory import episode_id
from haggle.env.scenario import ScenarioSampler


def test_scripted_spec_builds_the_named_strategy_with_its_params():
    agent = build_agent(
        AgentSpec.from_mapping({"name": "tough", "strategy": "hardliner", "params": {"margin": 0.4}}),
        "seller",
        seed=3,
    )
    assert type(agent).__name__ == "HardlinerAgent" and agent.margin == 0.4 and agent.role == "seller"
    assert type(build_agent(AgentSpec("boulware"), "buyer", seed=0)).__name__ == "TimeDependentAgent"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"name": "x", "kind": "gpt"}, "kind must be one of 'scripted', 'openai', 'hf', 'vllm', got 'gpt'"),
        ({"name": "x", "kind": "openai"}, "needs `params.model`"),
        ({"name": "x", "model": "m"}, "unknown agent field 'model'; known: kind, name, params, strategy"),
        ({"name": "x", "kind": "openai", "params": {"model": "m", "api_key": "sk-1"}}, "looks like a secret"),
        (
            {
                "name": "x",
                "kind": "openai",
                "params": {"model": "m", "headers": {"Authorization": "Bearer s"}},
            },
            "headers.Authorization looks like a secret",
        ),
    ],
)
def test_bad_specs_fail_with_a_message_that_says_what_to_do(mapping, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        AgentSpec.from_mapping(mapping)


def test_serving_details_do_not_change_the_episode_id_but_the_model_does():
    scenario = ScenarioSampler().sample(1, seed=0)[0]
    local = AgentSpec(
        "m", "openai", params={"model": "qwen", "base_url": "http://127.0.0.1:8000/v1", "timeout": 5}
    )
    moved = AgentSpec(
        "m", "openai", params={"model": "qwen", "base_url": "http://10.0.0.2:9000/v1", "timeout": 60}
    )
    other = AgentSpec("m", "openai", params={"model": "qwen", "sampling": {"temperature": 0.0}})
    seller = AgentSpec("linear")
    assert episode_id(scenario, local, seller) == episode_id(scenario, moved, seller)
    assert episode_id(scenario, local, seller) != episode_id(scenario, other, seller)
    assert episode_id(scenario, local, seller) != episode_id(scenario, local, seller, repetition=1)
    assert episode_id(scenario, local, seller) != episode_id(scenario, seller, local)


def test_llm_agents_of_one_spec_share_one_backend():
    spec = AgentSpec("shared", "openai", params={"model": "m", "base_url": "http://127.0.0.1:1/v1"})
    first, second = build_agent(spec, "buyer", 1), build_agent(spec, "seller", 2)
    assert isinstance(first, LLMAgent) and first.backend is second.backend is shared_backend(spec)


@pytest.mark.parametrize("kind", ["openai", "hf"])
def test_a_system_prompt_suffix_changes_the_player_not_the_model(kind):
    """Framed and unframed agents of one model share its client or loaded weights (the backends' own configs would
    refuse the key), play under different episode ids, and read the suffix at the end of their system prompt."""
    base = {"model": "m", "base_url": "http://127.0.0.1:1/v1"} if kind == "openai" else {"model": "m"}
    plain = AgentSpec("framed", kind, params=base)
    framed = AgentSpec("framed", kind, params=base | {"system_prompt_suffix": "You are the stronger party."})
    assert shared_backend(framed) is shared_backend(plain)  # built lazily: no weights are loaded here
    assert framed.backend_spec() == plain.backend_spec() and framed.fingerprint != plain.fingerprint
    assert framed.identity()["params"]["system_prompt_suffix"] == "You are the stronger party."
    scenario = ScenarioSampler().sample(1, seed=0)[0]
    seller = AgentSpec("linear")
    assert episode_id(scenario, framed, seller) != episode_id(scenario, plain, seller)
    agent = build_agent(framed, "buyer", 1)
    assert agent.transcript.system_prompt_suffix == "You are the stronger party."
    assert build_agent(plain, "buyer", 1).transcript.system_prompt_suffix is None


def test_the_suffix_is_text_for_llm_agents_only():
    with pytest.raises(ValueError, match="scripted agents read no prompt"):
        AgentSpec("linear", params={"system_prompt_suffix": "Be tough."})
    with pytest.raises(ValueError, match="system_prompt_suffix"):
        AgentSpec("m", "openai", params={"model": "m", "system_prompt_suffix": ["not", "text"]})


def test_presets_fill_in_the_endpoint_and_name_the_key_variable(monkeypatch):
    monkeypatch.setenv("HAGGLE_BASE_URL", "http://127.0.0.1:9999/v1")
    vllm = EndpointConfig.from_params(
        {
            "preset": "vllm",
            "model": "Qwen/Qwen3-8B",
            "thinking": False,
            "sampling": {"temperature": 0.6, "top_k": 20},
        }
    )
    assert vllm.base_url == "http://127.0.0.1:9999/v1" and vllm.api_key_env is None
    body = vllm.request_body([{"role": "user", "content": "hi"}], [])
    assert body["model"] == "Qwen/Qwen3-8B" and body["temperature"] == 0.6 and body["top_k"] == 20
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    router = EndpointConfig.from_params({"preset": "openrouter", "model": "openai/gpt-5"})
    assert router.base_url == "https://openrouter.ai/api/v1" and router.api_key_env == "OPENROUTER_API_KEY"
    with pytest.raises(ValueError, match="unknown preset"):
        EndpointConfig.from_params({"preset": "nope", "model": "m"})


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    rng = random.Random(0)
    for retry, ceiling in enumerate([1, 2, 4, 8, 8, 8]):
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # jittered, so clients spread out


def test_vllm_agents_name_the_extra_to_install_when_vllm_is_missing():
    pytest.importorskip("torch")  # the training stack is there, vLLM is not (it is a GPU-only extra)
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(ImportError, match=r"pip install -e '\.\[vllm\]'"):
        build_agent(AgentSpec("fast", "vllm", params={"model": "Qwen/Qwen3-8B"}), "buyer", 0)
