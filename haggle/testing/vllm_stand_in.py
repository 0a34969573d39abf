"""Stand-ins for vLLM without a GPU: `trl vllm-serve` on 127.0.0.1, speaking the routes TRL 1.16's `VLLMClient`
calls (`serve`), and the in-process `vllm.LLM` engine that TRL's colocate mode builds and calls (`ScriptedLLM`).

Generation is scripted, not sampled (`ScriptedCompletions`, shared by both): it is what lets a CPU test make rollouts
take chosen numbers of turns and check that each completion reaches the conversation it was generated for. Each
prompt is decoded with the model's tokenizer and answered for the rollout id it carries (`id=<N>`): a tool call
`step(id=N)` while the last tool reply says `again` (or there is none), a final text `done id=N` once it says
`done`. Each answer carries the prompt and completion token ids and a zero log-prob per token, as vLLM's do.

Weight sync is accepted, counted and ignored. The server answers `{}` to `/start_weight_update`, `/update_weights`
(the tensor names only: TRL streams the tensors over vLLM's NCCL weight-transfer engine, which needs CUDA, so a CPU
client posts only the names) and `/finish_weight_update`, and counts the requests in `/stats`. The engine counts in
`ScriptedLLM.calls` the parameters TRL loads through `llm_engine.model_executor.driver_worker.model_runner.model`,
`reset_prefix_cache`, and `sleep` / `wake_up` in sleep mode.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

ROLLOUT_ID = re.compile(r"id=(\d+)")


class ScriptedCompletions:
    """Completions of the scripted policy above, in token ids of `tokenizer`."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def complete(self, prompt_ids: list[int]) -> list[int]:
        text = self.tokenizer.decode(prompt_ids)
        found = ROLLOUT_ID.findall(text.split("<|im_start|>user", 1)[-1])
        rollout = found[0] if found else "none"
        replies = text.split("<tool_response>")
        if len(replies) > 1 and replies[-1].lstrip().startswith("done"):
            answer = f"done id={rollout}<|im_end|>"
        else:
            call = json.dumps({"name": "step", "arguments": {"id": int(rollout) if found else -1}})
            answer = f"<tool_call>\n{call}\n</tool_call><|im_end|>"
        return list(self.tokenizer(answer, add_special_tokens=False)["input_ids"])


def serve(tokenizer: Any, model_name: str = "stand-in", port: int = 0) -> tuple[ThreadingHTTPServer, Counter]:
    """Start the stand-in on 127.0.0.1 in a daemon thread; returns the server (its port) and the request counts."""
    completions = ScriptedCompletions(tokenizer)
    counts: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?")[0].rstrip("/")
            counts[path] += 1
            answers: dict[str, dict[str, Any]] = {
                "/health": {},
                "/v1/models": {"data": [{"id": model_name}]},
                "/get_world_size": {"world_size": 1},
                "/server_info": {
                    "vllm_config": {
                        "weight_transfer_config": {"backend": "http-stand-in"},
                        "model_config": {"logprobs_mode": "processed_logprobs"},
                    }
                },
                "/stats": dict(counts),
            }
            if path not in answers:
                self.send_error(404)
                return
            self._reply(answers[path])

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.rstrip("/")
            counts[path] += 1
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if path == "/v1/completions":
                self._reply({"choices": self._choices(body)})
            elif path in ("/start_weight_update", "/update_weights", "/finish_weight_update"):
                self._reply({})
            elif path == "/reset_prefix_cache":
                self._reply({"success": True})
            else:
                self.send_error(404)

        def _choices(self, body: dict[str, Any]) -> list[dict[str, Any]]:
            choices = []
            for prompt in body["prompt"]:
                for _ in range(body.get("n", 1)):
                    ids = completions.complete(prompt)[: body.get("max_tokens", 16)]
                    logprobs = {
                        "tokens": [f"token_id:{i}" for i in ids],
                        "token_logprobs": [0.0] * len(ids),
                        "top_logprobs": [None] * len(ids),
                    }
                    choices.append({"prompt_token_ids": prompt, "token_ids": ids, "logprobs": logprobs})
            return choices

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


# -- the colocate engine ---------------------------------------------------------------------------------------------
class SamplingParams:
    """vLLM's `SamplingParams` as TRL's colocate mode builds it; the engine reads `n`, `max_tokens` and `logprobs`."""

    def __init__(self, n: int = 1, max_tokens: int = 16, logprobs: int | None = None, **_: Any) -> None:
        self.n, self.max_tokens, self.logprobs = n, max_tokens, logprobs


@dataclass(frozen=True)
class Logprob:
    """One entry of vLLM's per-token log-prob dict (token id -> entry); TRL sorts the entries by `rank`."""

    logprob: float
    rank: int = 1


@dataclass(frozen=True)
class CompletionOutput:
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None


@dataclass(frozen=True)
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


class ScriptedLLM:
    """`vllm.LLM` as TRL's colocate mode uses it, answering with `ScriptedCompletions` (zero log-prob per token).

    With tensor parallelism every engine of a group gets the group's prompts and, seeded alike, answers them alike:
    scripted answers are the same on every process, as vLLM's are.
    """

    def __init__(self, model: str, max_model_len: int | None = None, **_: Any) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.completions = ScriptedCompletions(AutoTokenizer.from_pretrained(model))
        self.calls: Counter[str] = Counter()
        context = max_model_len or AutoConfig.from_pretrained(model).max_position_embeddings
        weights = SimpleNamespace(load_weights=lambda weights: self.calls.update(load_weights=len(weights)))
        self.llm_engine = SimpleNamespace(
            model_config=SimpleNamespace(max_model_len=context),
            model_executor=SimpleNamespace(
                driver_worker=SimpleNamespace(model_runner=SimpleNamespace(model=weights))
            ),
        )

    def generate(
        self, prompts: list[dict[str, Any]], sampling_params: SamplingParams, use_tqdm: bool = True
    ) -> list[RequestOutput]:
        self.calls["generate"] += 1
        outputs = []
        for prompt in prompts:
            ids = prompt["prompt_token_ids"]
            choices = []
            for _ in range(sampling_params.n):
                answer = self.completions.complete(ids)[: sampling_params.max_tokens]
                logprobs = None if sampling_params.logprobs is None else [{i: Logprob(0.0)} for i in answer]
                choices.append(CompletionOutput(answer, logprobs))
            outputs.append(RequestOutput(ids, choices))
        return outputs

    def reset_prefix_cache(self) -> bool:
        self.calls["reset_prefix_cache"] += 1
        return True

    def sleep(self, level: int = 1) -> None:
        self.calls["sleep"] += 1

    def wake_up(self, tags: list[str] | None = None) -> None:
        self.calls["wake_up"] += 1
