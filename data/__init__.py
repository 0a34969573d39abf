"""LLM negotiators, round-robin tournaments and SFT traces.

Agents are specified by `AgentSpec` (scripted strategies, OpenAI-compatible endpoints, local Hugging Face models
or vLLM's offline engine) and built by `build_agent`; `run_jobs` plays episodes concurrently into an
`EpisodeStore` that resumes after any interruption; `traces` turns stored episodes into a TRL SFT dataset.
"""

if (
    __name__ != "haggle.data"
):  # the folder is installed as haggle.data only: one name, one copy of each module
    raise ModuleNotFoundError(f"{__name__!r} is not a package here: import haggle.data", name=__name__)
