"""The SLURM batch scripts under a faked SLURM: the commands each node would run, and the real-run plumbing.

SLURM is not installed here, so `scontrol` (node-list expansion, requeue) is a small stand-in on PATH, and so,
for the real-run tests only, are `srun`, `trl`, `vllm`, `accelerate` and `haggle`. The dry-run tests read the
printed commands and check them with the real argument parsers of accelerate and TRL. The repository
configs the scripts are meant for (configs/sft, configs/grpo, configs/eval, configs/tournament) are checked
at the end.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLURM_DIR = REPO / "slurm"
SCRIPTS = sorted(p.name for p in SLURM_DIR.glob("*.slurm"))
GPUS_PER_NODE = 8
JOB_ID = "4242"
NODE_COUNTS = [1, 2, 4]

# --------------------------------------------------------------------------- fake SLURM tools

FAKE_SCONTROL = r'''#!/usr/bin/env python3
"""scontrol stand-in: `show hostnames LIST` expands a SLURM node list; `requeue ID` is recorded."""
import os, re, sys

def expand(node_list):
    names = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?", node_list):
        match = re.fullmatch(r"([^\[]*)\[([^\]]*)\]", part)
        if not match:
            names.append(part)
            continue
        for item in match.group(2).split(","):
            first, _, last = item.partition("-")
            numbers = range(int(first), int(last or first) + 1)
            names += [f"{match.group(1)}{i:0{len(first)}d}" for i in numbers]
    return names

if sys.argv[1:3] == ["show", "hostnames"]:
    print("\n".join(expand(sys.argv[3])))
elif sys.argv[1] == "requeue":
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write("scontrol requeue " + sys.argv[2] + "\n")
else:
    sys.exit(f"fake scontrol: unsupported {sys.argv[1:]}")
'''

# srun stand-in: drop srun's own options (all written --name or --name=value), honour --output, run the rest
# as task 0 on this machine.
FAKE_SRUN = r"""#!/bin/bash
output=""
while [[ $1 == --* ]]; do
  [[ $1 == --output=* ]] && output=${1#--output=}
  shift
done
echo "srun $*" >>"$FAKE_LOG"
export SLURM_PROCID=0
if [[ -n $output ]]; then exec "$@" >"$output" 2>&1; else exec "$@"; fi
"""

# trl / vllm stand-in: answer GET /health on --port, like `trl vllm-serve` and `vllm serve` once loaded.
FAKE_SERVER = r"""#!/usr/bin/env python3
import http.server, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(f"server pid {os.getpid()} port {port}\n")
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""

# accelerate / haggle stand-in: record the command line, then sleep for FAKE_SLEEP seconds (default 0).
FAKE_CLIENT = r"""#!/bin/bash
echo "$(basename "$0") $*" >>"$FAKE_LOG"
touch "$FAKE_LOG.started"
exec sleep "${FAKE_SLEEP:-0}"
"""


@dataclass
class FakeCluster:
    """A directory of stand-in tools and the environment of a job running on `nodes`."""

    root: Path
    log: Path

    def env(self, nodes: int, **extra: str) -> dict[str, str]:
        node_list = "gpu-001" if nodes == 1 else f"gpu-[001-{nodes:03d}]"
        return {
            "PATH": os.pathsep.join(
                [str(self.root / "bin"), str(Path(sys.executable).parent), "/usr/bin", "/bin"]
            ),
            "HOME": str(self.root),
            "PYTHON": sys.executable,
            "FAKE_LOG": str(self.log),
            "SLURM_JOB_ID": JOB_ID,
            "SLURM_JOB_NODELIST": node_list,
            "SLURM_NNODES": str(nodes),
            "SLURM_GPUS_ON_NODE": str(GPUS_PER_NODE),
            "SLURM_CPUS_ON_NODE": "64",
            **extra,
        }

    def install(self, tools: dict[str, str]) -> None:
        for name, text in tools.items():
            path = self.root / "bin" / name
            path.write_text(text.replace("/usr/bin/env python3", sys.executable, 1))
            path.chmod(0o755)

    def install_job_tools(self) -> None:
        """srun and the programs it starts; only real-run tests need them, so a dry run can never run them."""
        self.install({"srun": FAKE_SRUN, "trl": FAKE_SERVER, "vllm": FAKE_SERVER})
        self.install({"accelerate": FAKE_CLIENT, "haggle": FAKE_CLIENT})

    def records(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def cluster(tmp_path: Path) -> FakeCluster:
    (tmp_path / "bin").mkdir()
    fake = FakeCluster(root=tmp_path, log=tmp_path / "calls.log")
    fake.install({"scontrol": FAKE_SCONTROL})
    return fake


def run_script(script: str, args: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float = 60):
    return subprocess.run(
        ["bash", str(SLURM_DIR / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- reading a dry run

LINE = re.compile(
    r"^\[dry-run\] node=(?P<node>\S+) role=(?P<role>[\w-]+)(?: rank=(?P<rank>\d+))?: (?P<text>.+)$"
)


@dataclass
class Step:
    node: str
    role: str
    rank: int | None
    argv: list[str]


def dry_run(script: str, args: list[str], env: dict[str, str]) -> tuple[list[Step], str]:
    result = run_script(script, ["--dry-run", *args], env)
    assert result.returncode == 0, result.stderr
    steps = []
    for line in result.stdout.splitlines():
        assert line.startswith("[dry-run] "), f"unlabelled output line: {line}"
        if match := LINE.match(line):
            text = match["text"]
            argv = text.split() if match["role"] == "health-check" else shlex.split(text)
            rank = None if match["rank"] is None else int(match["rank"])
            steps.append(Step(match["node"], match["role"], rank, argv))
    return steps, result.stdout


def only(steps: list[Step], role: str) -> Step:
    matching = [s for s in steps if s.role == role]
    assert len(matching) == 1, f"expected one {role} step, got {matching}"
    return matching[0]


def option(argv: list[str], name: str) -> str:
    """The value of `name` in argv, written `name value` or `name=value`."""
    for index, arg in enumerate(argv):
        if arg == name:
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


def accelerate_args(argv: list[str]):
    """Parse a per-node command with accelerate's own `launch` parser (fails on a flag it does not know)."""
    from accelerate.commands.launch import launch_command_parser

    start = argv.index("accelerate")
    assert argv[start + 1] == "launch"
    return launch_command_parser().parse_args(argv[start + 2 :])


def node_names(count: int) -> list[str]:
    return [f"gpu-{i:03d}" for i in range(1, count + 1)]


@pytest.fixture
def training_config(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(f"model_name_or_path: Qwen/Qwen3-8B\noutput_dir: {tmp_path / 'out'}\n")
    return path


# --------------------------------------------------------------------------- static checks


@pytest.mark.parametrize("name", [*SCRIPTS, "common.sh", "served_run.sh"])
def test_every_script_parses_with_bash_n(name):
    result = subprocess.run(["bash", "-n", str(SLURM_DIR / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_four_batch_scripts_exist():
    assert SCRIPTS == ["eval.slurm", "grpo.slurm", "sft.slurm", "tournament.slurm"]


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
def test_shellcheck_is_clean():
    files = [f"slurm/{name}" for name in [*SCRIPTS, "common.sh", "served_run.sh"]]
    result = subprocess.run(["shellcheck", "-x", *files], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_requeues_itself_before_preemption_and_logs_per_job(name):
    header = [line for line in (SLURM_DIR / name).read_text().splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --requeue" in header
    assert "#SBATCH --signal=B:USR1@180" in header
    assert "#SBATCH --output=logs/%x-%j.out" in header
    assert "#SBATCH --open-mode=append" in header


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_prints_usage_and_runs_nothing(name, cluster):
    result = run_script(name, ["--help"], cluster.env(2))
    assert result.returncode == 0
    assert "Usage: sbatch" in result.stdout and f"slurm/{name} CONFIG" in result.stdout
    assert "#SBATCH" not in result.stdout
    assert cluster.records() == []


def test_accelerate_configs_load_with_accelerate_and_use_bf16():
    from accelerate.commands.config.config_args import ClusterConfig

    expected = {"single_gpu": "NO", "multi_gpu": "MULTI_GPU", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}
    expected |= {"fsdp2": "FSDP"}
    configs = {
        p.stem: ClusterConfig.from_yaml_file(str(p)) for p in (REPO / "configs/accelerate").glob("*.yaml")
    }
    assert set(configs) == set(expected)
    for name, config in configs.items():
        assert str(config.distributed_type).rsplit(".", 1)[-1] == expected[name], name
        assert str(config.mixed_precision) == "bf16", name
    assert configs["zero2"].deepspeed_config["zero_stage"] == 2
    assert configs["zero3"].deepspeed_config["zero_stage"] == 3
    assert configs["fsdp2"].fsdp_config["fsdp_version"] == 2
    assert configs["single_gpu"].num_processes == 1


# --------------------------------------------------------------------------- SFT


@pytest.mark.parametrize("nodes", NODE_COUNTS)
def test_sft_launches_one_ranked_accelerate_per_node_under_one_srun(nodes, cluster, training_config):
    steps, _ = dry_run(
        "sft.slurm", [str(training_config), "--", "--learning_rate", "1e-4"], cluster.env(nodes)
    )
    names = node_names(nodes)

    step = only(steps, "trainer-step")
    assert step.argv[0] == "srun" and "--kill-on-bad-exit=1" in step.argv
    assert option(step.argv, "--nodelist") == ",".join(names) and option(step.argv, "--ntasks") == str(nodes)
    assert "$SLURM_PROCID" in option(step.argv, "-c")  # each node takes its rank from SLURM

    trainers = [s for s in steps if s.role == "trainer"]
    assert [(s.node, s.rank) for s in trainers] == list(zip(names, range(nodes), strict=True))
    for trainer in trainers:
        launch = accelerate_args(trainer.argv)
        assert int(launch.machine_rank) == trainer.rank
        assert launch.num_machines == nodes and launch.num_processes == nodes * GPUS_PER_NODE
        assert launch.main_process_ip == "gpu-001"
        assert launch.config_file == "configs/accelerate/multi_gpu.yaml"
        assert launch.training_script == "training/sft.py"
        assert launch.training_script_args == ["--config", str(training_config), "--learning_rate", "1e-4"]
    ports = {accelerate_args(t.argv).main_process_port for t in trainers}
    assert len(ports) == 1
    assert not [s for s in steps if s.role == "vllm-server"]


def test_sft_takes_the_accelerate_config_by_name(cluster, training_config):
    steps, _ = dry_run("sft.slurm", [str(training_config), "--accelerate", "zero3"], cluster.env(2))
    for trainer in (s for s in steps if s.role == "trainer"):
        config = accelerate_args(trainer.argv).config_file
        assert config == "configs/accelerate/zero3.yaml" and (REPO / config).is_file()


def test_dry_run_env_variable_equals_the_flag_and_writes_nothing(cluster, training_config):
    flag = run_script("sft.slurm", [str(training_config), "--dry-run"], cluster.env(2))
    variable = run_script("sft.slurm", [str(training_config)], cluster.env(2, DRY_RUN="1"))
    assert flag.returncode == variable.returncode == 0
    assert flag.stdout == variable.stdout
    assert not (REPO / "logs" / f"haggle-sft-{JOB_ID}").exists()
    assert cluster.records() == []


def test_wandb_is_offline_without_an_api_key_and_passes_settings_through(cluster, training_config):
    _, offline = dry_run("sft.slurm", [str(training_config)], cluster.env(1, WANDB_ENTITY="lab"))
    assert (
        "WANDB_MODE=offline" in offline
        and "WANDB_ENTITY=lab" in offline
        and "WANDB_PROJECT=haggle" in offline
    )
    env = cluster.env(1, WANDB_API_KEY="secret-key", WANDB_PROJECT="bargains")
    _, online = dry_run("sft.slurm", [str(training_config)], env)
    assert "WANDB_MODE=online" in online and "WANDB_PROJECT=bargains" in online
    assert "secret-key" not in online
    _, forced = dry_run("sft.slurm", [str(training_config)], cluster.env(1, WANDB_MODE="disabled"))
    assert "WANDB_MODE=disabled" in forced


def test_resume_is_added_after_a_requeue_only_when_a_checkpoint_exists(cluster, training_config, tmp_path):
    def script_args(**extra: str) -> list[str]:
        steps, _ = dry_run("sft.slurm", [str(training_config)], cluster.env(1, **extra))
        return accelerate_args(only(steps, "trainer").argv).training_script_args

    assert "--resume" not in script_args(SLURM_RESTART_COUNT="1")  # requeued before the first checkpoint
    (tmp_path / "out" / "checkpoint-50").mkdir(parents=True)
    assert "--resume" not in script_args()  # a fresh submission starts over
    assert "--resume" in script_args(SLURM_RESTART_COUNT="1")
    steps, _ = dry_run("sft.slurm", [str(training_config), "--resume"], cluster.env(1))
    assert "--resume" in accelerate_args(only(steps, "trainer").argv).training_script_args


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        ([], {}, "missing the config file"),
        (["configs/sft/no-such-config.yaml"], {}, "config file not found"),
        (["{config}", "--accelerate", "zero9"], {}, "choose from: fsdp2 multi_gpu single_gpu zero2 zero3"),
        (["{config}", "--accelerate", "single_gpu"], {}, "single_gpu runs one process"),
        (["{config}", "--gpus-per-node", "eight"], {}, "--gpus-per-node must be a whole number"),
        (["{config}", "--frobnicate"], {}, "unknown option --frobnicate"),
        (["{config}"], {"SLURM_NNODES": "3"}, "SLURM_NNODES=3 but the node list"),
    ],
)
def test_sft_rejects_bad_arguments_with_a_clear_error(args, extra_env, message, cluster, training_config):
    args = [str(training_config) if a == "{config}" else a for a in args]
    result = run_script("sft.slurm", ["--dry-run", *args], cluster.env(2, **extra_env))
    assert result.returncode != 0
    assert message in result.stderr
    assert "[dry-run] node=" not in result.stdout


def test_outside_slurm_a_real_run_refuses_and_a_dry_run_previews_one_node(cluster, training_config, job_root):
    env = {k: v for k, v in cluster.env(1, HAGGLE_ROOT=str(job_root)).items() if not k.startswith("SLURM_")}
    refused = run_script("sft.slurm", [str(training_config)], env, cwd=job_root)
    assert refused.returncode == 1 and "not inside a SLURM job" in refused.stderr
    steps, _ = dry_run("sft.slurm", [str(training_config), "--gpus-per-node", "2"], env)
    assert accelerate_args(only(steps, "trainer").argv).num_processes == 2


# --------------------------------------------------------------------------- GRPO


@pytest.mark.parametrize("nodes", NODE_COUNTS)
def test_grpo_server_mode_puts_vllm_on_its_own_node_and_waits_for_it(nodes, cluster, training_config):
    from trl.scripts.vllm_serve import make_parser

    steps, _ = dry_run("grpo.slurm", [str(training_config)], cluster.env(nodes))
    names = node_names(nodes)
    roles = [s.role for s in steps]
    assert roles.index("vllm-server") < roles.index("health-check") < roles.index("trainer-step")

    server = only(steps, "vllm-server")
    assert server.argv[0] == "srun" and "--kill-on-bad-exit=1" in server.argv
    serve = server.argv[server.argv.index("vllm-serve") + 1 :]
    served, unknown = make_parser().parse_known_args(serve)
    assert unknown == [] and served.model == "Qwen/Qwen3-8B" and served.data_parallel_size == 1

    trainers = [s for s in steps if s.role == "trainer"]
    if nodes == 1:  # the server and the trainer share the node, on disjoint GPUs
        assert server.node == "gpu-001" and served.tensor_parallel_size == 1
        assert "CUDA_VISIBLE_DEVICES=0" in server.argv
        assert "CUDA_VISIBLE_DEVICES=1,2,3,4,5,6,7" in trainers[0].argv
        host, train_nodes, processes = "127.0.0.1", names, GPUS_PER_NODE - 1
    else:  # the last node serves with all its GPUs; the others train
        assert server.node == names[-1] and option(server.argv, "--nodelist") == names[-1]
        assert served.tensor_parallel_size == GPUS_PER_NODE
        host, train_nodes, processes = names[-1], names[:-1], (nodes - 1) * GPUS_PER_NODE

    health = only(steps, "health-check")
    assert health.node == "gpu-001" and f"http://{host}:{served.port}/health" in health.argv
    assert [(t.node, t.rank) for t in trainers] == list(
        zip(train_nodes, range(len(train_nodes)), strict=True)
    )
    for trainer in trainers:
        launch = accelerate_args(trainer.argv)
        assert int(launch.machine_rank) == trainer.rank
        assert launch.num_machines == len(train_nodes) and launch.num_processes == processes
        assert launch.main_process_ip == "gpu-001" and launch.training_script == "training/grpo.py"
        script = launch.training_script_args
        assert option(script, "--config") == str(training_config)
        assert option(script, "--vllm_mode") == "server"
        assert option(script, "--vllm_server_host") == host
        assert option(script, "--vllm_server_port") == str(served.port)


def test_grpo_vllm_flags_are_grpo_config_fields(cluster, training_config):
    from transformers import HfArgumentParser
    from trl import GRPOConfig

    steps, _ = dry_run("grpo.slurm", [str(training_config)], cluster.env(2))
    script = accelerate_args(only(steps, "trainer").argv).training_script_args
    config_path = script[script.index("--config") + 1]
    trainer_flags = [a for a in script if a not in ("--config", config_path)]
    parsed, unknown = HfArgumentParser(GRPOConfig).parse_known_args(trainer_flags)
    assert unknown == []
    assert parsed.use_vllm is True and parsed.vllm_mode == "server"
    assert parsed.vllm_server_host == "gpu-002" and parsed.vllm_server_port == int(
        option(script, "--vllm_server_port")
    )


def test_training_grpo_py_accepts_every_flag_the_script_passes(cluster, training_config, tmp_path):
    from haggle.training.grpo import make_parser

    (tmp_path / "out" / "checkpoint-10").mkdir(parents=True)
    env = cluster.env(2, SLURM_RESTART_COUNT="1")
    steps, _ = dry_run("grpo.slurm", [str(training_config), "--", "--num_generations", "4"], env)
    script = accelerate_args(only(steps, "trainer").argv).training_script_args
    assert script[:2] == ["--config", str(training_config)]  # TrlParser reads --config itself
    parsed, unknown = make_parser().parse_known_args(script[2:])
    assert unknown == []
    assert parsed.resume is True and parsed.vllm_mode == "server" and parsed.num_generations == 4


def test_grpo_colocate_mode_trains_on_every_gpu_without_a_server(cluster, training_config):
    steps, _ = dry_run("grpo.slurm", [str(training_config), "--vllm", "colocate"], cluster.env(2))
    assert {s.role for s in steps} == {"trainer-step", "trainer"}
    for trainer in (s for s in steps if s.role == "trainer"):
        launch = accelerate_args(trainer.argv)
        assert launch.num_processes == 2 * GPUS_PER_NODE
        assert option(launch.training_script_args, "--vllm_mode") == "colocate"


def test_grpo_server_size_options(cluster, training_config):
    steps, _ = dry_run("grpo.slurm", [str(training_config), "--vllm-tp", "2"], cluster.env(1))
    assert "CUDA_VISIBLE_DEVICES=0,1" in only(steps, "vllm-server").argv
    assert accelerate_args(only(steps, "trainer").argv).num_processes == GPUS_PER_NODE - 2
    too_big = run_script("grpo.slurm", [str(training_config), "--vllm-tp", "8", "--dry-run"], cluster.env(1))
    assert too_big.returncode != 0 and "leaving none to train" in too_big.stderr
    no_model = training_config.with_name("no-model.yaml")
    no_model.write_text("output_dir: out\n")
    missing = run_script("grpo.slurm", [str(no_model), "--dry-run"], cluster.env(2))
    assert missing.returncode != 0 and "no model_name_or_path for the vLLM server" in missing.stderr
    steps, _ = dry_run(
        "grpo.slurm", [str(no_model), "--", "--model_name_or_path=runs/tiny-model"], cluster.env(2)
    )
    assert option(only(steps, "vllm-server").argv, "--model") == "runs/tiny-model"


def test_grpo_server_defaults_come_from_the_shipped_config_and_a_gpu_less_preview_assumes_8(cluster):
    """14B on one node serves with tensor parallel 2 (the README's table), the server holds the config's
    vllm_max_model_length, and a dry run with no GPU count anywhere previews 8 GPUs per node with a note."""
    from trl.scripts.vllm_serve import make_parser

    env = {key: value for key, value in cluster.env(1).items() if key != "SLURM_GPUS_ON_NODE"}
    result = run_script("grpo.slurm", ["configs/grpo/qwen3-14b.yaml", "--dry-run"], env)
    assert result.returncode == 0, result.stderr
    assert "assuming 8 GPUs per node" in result.stderr
    server = next(line for line in result.stdout.splitlines() if "role=vllm-server" in line)
    argv = shlex.split(server.split(": ", 1)[1])
    served, unknown = make_parser().parse_known_args(argv[argv.index("vllm-serve") + 1 :])
    assert unknown == [] and served.tensor_parallel_size == 2 and served.max_model_len == 4608
    assert "CUDA_VISIBLE_DEVICES=0,1" in argv
    steps, _ = dry_run("grpo.slurm", ["configs/grpo/qwen3-8b.yaml"], cluster.env(1))
    assert option(only(steps, "vllm-server").argv, "--tensor_parallel_size") == "1"
    real = run_script("grpo.slurm", ["configs/grpo/qwen3-14b.yaml"], env)
    assert real.returncode != 0 and "pass --gpus-per-node N" in real.stderr


# --------------------------------------------------------------------------- eval and tournament


@pytest.fixture
def eval_config(tmp_path: Path) -> Path:
    path = tmp_path / "smoke.yaml"
    path.write_text("base_url: ${HAGGLE_BASE_URL}\n")
    return path


@pytest.mark.parametrize("script", ["eval.slurm", "tournament.slurm"])
@pytest.mark.parametrize("nodes", NODE_COUNTS)
def test_eval_and_tournament_serve_then_run_haggle_on_one_node(script, nodes, cluster, eval_config):
    command = script.removesuffix(".slurm")
    args = [str(eval_config), "--model", "Qwen/Qwen3-8B"]
    if nodes > 1:  # one server, one client: more nodes are an array job's business
        result = run_script(script, [*args, "--dry-run"], cluster.env(nodes))
        assert result.returncode == 2 and "array job" in result.stderr
        return
    steps, _ = dry_run(script, args, cluster.env(nodes))
    assert [s.role for s in steps] == ["vllm-server", "health-check", command]
    server = only(steps, "vllm-server")
    assert server.node == "gpu-001" and "--kill-on-bad-exit=1" in server.argv
    serve = server.argv[server.argv.index("vllm") :]
    assert serve[:3] == ["vllm", "serve", "Qwen/Qwen3-8B"]
    assert "--enable-auto-tool-choice" in serve and option(serve, "--tool-call-parser") == "hermes"
    port = option(serve, "--port")
    assert f"http://127.0.0.1:{port}/health" in only(steps, "health-check").argv
    client = only(steps, command).argv
    assert f"HAGGLE_BASE_URL=http://127.0.0.1:{port}/v1" in client
    haggle = client[client.index("haggle") :]
    assert haggle[:2] == ["haggle", command] and option(haggle, "--config") == str(eval_config)
    assert option(haggle, "--out") == f"runs/{command}/smoke-{JOB_ID}"


def test_eval_tensor_parallel_must_fit_the_allocated_gpus(cluster, eval_config):
    args = ["--dry-run", str(eval_config), "--model", "Qwen/Qwen3-14B", "--tp", "2"]
    steps, _ = dry_run("eval.slurm", args[1:], cluster.env(1, SLURM_GPUS_ON_NODE="2"))
    assert option(only(steps, "vllm-server").argv, "--tensor-parallel-size") == "2"
    result = run_script("eval.slurm", args, cluster.env(1, SLURM_GPUS_ON_NODE="1"))
    assert result.returncode == 2 and "--tp 2 needs as many GPUs, but the job has 1" in result.stderr


def test_an_eval_array_runs_one_seed_per_task(cluster, eval_config):
    env = cluster.env(1, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_JOB_ID="4200")
    steps, _ = dry_run("eval.slurm", [str(eval_config), "--model", "Qwen/Qwen3-8B"], env)
    client = only(steps, "eval").argv
    assert "HAGGLE_SEED=3" in client
    assert option(client, "--out") == "runs/eval/smoke-4200/task-3"


def test_an_eval_array_over_checkpoints_serves_one_adapter_per_task(cluster, eval_config, tmp_path):
    for step, rank in [(500, 8), (1000, 64), (1500, 8)]:
        adapter = tmp_path / "sft" / f"checkpoint-{step}"
        adapter.mkdir(parents=True)
        (adapter / "adapter_config.json").write_text(f'{{"r": {rank}}}')
    args = [
        str(eval_config),
        "--model",
        "Qwen/Qwen3-8B",
        "--checkpoints",
        str(tmp_path / "sft" / "checkpoint-*"),
    ]
    env = cluster.env(1, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_JOB_ID="4200")
    steps, _ = dry_run("eval.slurm", args, env)
    serve = only(steps, "vllm-server").argv
    # sorted by step, not as text: task 1 is checkpoint-1000
    assert option(serve, "--lora-modules") == f"checkpoint-1000={tmp_path}/sft/checkpoint-1000"
    assert option(serve, "--max-lora-rank") == "64"  # above vLLM's default of 16
    client = only(steps, "eval").argv
    assert "HAGGLE_MODEL=checkpoint-1000" in client
    assert option(client, "--out") == "runs/eval/smoke-4200/task-1-checkpoint-1000"
    past_the_end = run_script("eval.slurm", [*args, "--dry-run"], cluster.env(1, SLURM_ARRAY_TASK_ID="3"))
    assert past_the_end.returncode != 0 and "matches only 3 checkpoints" in past_the_end.stderr
    not_an_array = run_script("eval.slurm", [*args, "--dry-run"], cluster.env(1))
    assert not_an_array.returncode != 0 and "needs an array job" in not_an_array.stderr


def test_a_tournament_serves_several_adapters(cluster, eval_config, tmp_path):
    adapters = []
    for name in ("sft", "grpo"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text('{"r": 16}')
        adapters += ["--adapter", f"{name}={tmp_path / name}"]
    steps, _ = dry_run(
        "tournament.slurm", [str(eval_config), "--model", "Qwen/Qwen3-8B", *adapters], cluster.env(1)
    )
    serve = only(steps, "vllm-server").argv
    modules = serve[serve.index("--lora-modules") + 1 : serve.index("--lora-modules") + 3]
    assert modules == [f"sft={tmp_path / 'sft'}", f"grpo={tmp_path / 'grpo'}"]
    assert "--max-lora-rank" not in serve
    assert "HAGGLE_MODEL=Qwen/Qwen3-8B" in only(steps, "tournament").argv


# --------------------------------------------------------------------------- real runs with stand-in tools


@pytest.fixture
def job_root(tmp_path: Path) -> Path:
    """A copy of the repository parts the scripts read, so that a real run writes its logs under tmp_path."""
    root = tmp_path / "repo"
    shutil.copytree(SLURM_DIR, root / "slurm")
    shutil.copytree(REPO / "configs" / "accelerate", root / "configs" / "accelerate")
    return root


def test_a_real_grpo_run_starts_the_server_waits_for_health_then_trains(cluster, training_config, job_root):
    env = cluster.env(1, HAGGLE_ROOT=str(job_root))
    preview, _ = dry_run("grpo.slurm", [str(training_config)], env)
    cluster.install_job_tools()
    result = run_script("grpo.slurm", [str(training_config)], env, cwd=job_root)
    assert result.returncode == 0, result.stderr
    assert "vLLM server is healthy" in result.stderr
    records = cluster.records()
    server_pid = int(next(r for r in records if r.startswith("server pid")).split()[2])
    launched = [r for r in records if r.startswith("accelerate ")]
    expected = only(preview, "trainer").argv
    assert launched == ["accelerate " + shlex.join(expected[expected.index("accelerate") + 1 :])]
    deadline = time.time() + 10  # the job's exit stops the server step
    while _alive(server_pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid)
    log_dir = job_root / "logs" / f"haggle-grpo-{JOB_ID}"
    assert (log_dir / training_config.name).is_file()
    commands = (log_dir / "commands.txt").read_text()
    assert "role=vllm-server: srun" in commands and "role=trainer-step: srun" in commands


def test_the_health_wait_is_bounded_and_names_the_server_log(cluster, eval_config, job_root):
    cluster.install_job_tools()
    (job_root / "bin").mkdir()
    silent = job_root / "bin" / "vllm"  # a server that never answers
    silent.write_text("#!/bin/bash\nexec sleep 60\n")
    silent.chmod(0o755)
    env = cluster.env(1, HAGGLE_ROOT=str(job_root))
    env["PATH"] = f"{job_root / 'bin'}{os.pathsep}{env['PATH']}"
    args = [str(eval_config), "--model", "Qwen/Qwen3-8B", "--health-timeout", "1"]
    result = run_script("eval.slurm", args, env, cwd=job_root)
    assert result.returncode == 1
    assert f"not healthy after 1s; see logs/haggle-eval-{JOB_ID}/vllm-server.out" in result.stderr
    assert not [r for r in cluster.records() if r.startswith("haggle ")]  # the client never started


def test_usr1_requeues_the_job_and_the_rerun_resumes(cluster, training_config, job_root, tmp_path):
    cluster.install_job_tools()
    env = cluster.env(2, HAGGLE_ROOT=str(job_root), FAKE_SLEEP="30")
    job = subprocess.Popen(
        ["bash", str(job_root / "slurm" / "sft.slurm"), str(training_config)],
        cwd=job_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = Path(str(cluster.log) + ".started")
    deadline = time.time() + 20
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the trainer never started"
    job.send_signal(signal.SIGUSR1)
    _, stderr = job.communicate(timeout=10)
    assert job.returncode == 0, stderr
    assert f"scontrol requeue {JOB_ID}" in cluster.records()
    assert "requeueing job" in stderr

    (tmp_path / "out" / "checkpoint-100").mkdir(parents=True)
    steps, _ = dry_run("sft.slurm", [str(training_config)], cluster.env(2, SLURM_RESTART_COUNT="1"))
    assert all(
        "--resume" in accelerate_args(s.argv).training_script_args for s in steps if s.role == "trainer"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------- the repository's configs
# These configs are written alongside the scripts; until they land the tests below fail by naming the file.

TRAINING_CONFIGS = [
    f"configs/{stage}/{name}.yaml"
    for stage in ("sft", "grpo")
    for name in ("tiny-cpu", "qwen3-8b", "qwen3-14b")
]


@pytest.mark.parametrize("config", TRAINING_CONFIGS)
def test_repository_training_configs_exist_and_dry_run(config, cluster):
    import yaml

    assert (REPO / config).is_file(), f"missing {config}"
    model = yaml.safe_load((REPO / config).read_text()).get("model_name_or_path")
    trainer_args = [] if model else ["--", "--model_name_or_path", "runs/tiny-model"]  # as tiny-cpu is run
    script = "sft.slurm" if "/sft/" in config else "grpo.slurm"
    steps, _ = dry_run(script, [config, *trainer_args], cluster.env(2))
    trainers = [s for s in steps if s.role == "trainer"]
    assert trainers
    for trainer in trainers:
        assert accelerate_args(trainer.argv).training_script_args[:2] == ["--config", config]
    if script == "grpo.slurm":
        assert option(only(steps, "vllm-server").argv, "--model") == (model or "runs/tiny-model")


@pytest.mark.parametrize("stage", ["eval", "tournament"])
def test_repository_eval_and_tournament_configs_dry_run(stage, cluster):
    configs = sorted((REPO / "configs" / stage).glob("*.yaml"))
    assert configs, f"no configs/{stage}/*.yaml yet"
    for config in configs:
        relative = str(config.relative_to(REPO))
        steps, _ = dry_run(f"{stage}.slurm", [relative, "--model", "Qwen/Qwen3-8B"], cluster.env(1))
        assert option(only(steps, stage).argv, "--config") == relative
