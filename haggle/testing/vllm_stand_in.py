"""A stand-in for `trl vllm-serve` on 127.0.0.1, speaking the routes TRL 1.16's `VLLMClient` calls, without a GPU.

Generation is scripted, not sampled: it is what lets a CPU test make rollouts take chosen numbers of turns and
check that each completion reaches the conversation it was generated for. `/v1/completions` decodes each prompt
with the model's tokenizer and answers for the rollout id the prompt carries (`id=<N>`): a tool call
`step(id=N)` while the last tool reply says `again` (or there is none), a final text `done id=N` once it says
`done`. Each choice returns the prompt and completion token ids and a zero log-prob per token, as vLLM does.

Weight sync is accepted and ignored: `/start_weight_update`, `/update_weights` (the tensor names only; TRL streams
the tensors over vLLM's NCCL weight-transfer engine, which needs CUDA, so a CPU client posts only the names) and
`/finish_weight_update` answer `{}`, and the requests are counted in `/stats`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
