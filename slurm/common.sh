# shellcheck shell=bash
# Shared helpers for Haggle's SLURM batch scripts: slurm/*.slurm source this file; it is never run by itself.
#
# Every command a script would run goes through `announce`, so `--dry-run` (or DRY_RUN=1) prints exactly what
# would run, one line per node and role, and a real run records the same lines in its log directory.
# Needs bash >= 4.2 and, on the batch node, python3 with pyyaml (configs are read as YAML, never with grep).

PYTHON=${PYTHON:-python3}
MAX_REQUEUES=${MAX_REQUEUES:-20}
STEP_PIDS=()
case ${DRY_RUN,,} in
  1 | true | yes) DRY_RUN=1 ;;
  *) DRY_RUN=0 ;;
esac

# -------------------- messages

log() { printf '[haggle %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'error: %s\nRun with --help for usage.\n' "$*" >&2
  exit 2
}
is_dry_run() { [[ $DRY_RUN == 1 ]]; }

# The comment block that follows a script's #SBATCH lines is its usage text.
print_usage() { sed -n '1d; /^##\{0,1\}SBATCH/d; /^#/!q; s/^# \{0,1\}//p' "$1"; }

# -------------------- argument checks

require_value() { # require_value OPTION VALUE: an option that takes a value got one
  [[ -n $2 && $2 != --* ]] || usage_error "$1 needs a value"
}
require_int() { # require_int OPTION VALUE MIN
  if [[ ! $2 =~ ^[0-9]+$ ]] || ((10#$2 < $3)); then
    usage_error "$1 must be a whole number >= $3, got '$2'"
  fi
}
require_config() { # require_config PATH: the job's YAML config exists
  [[ -n $1 ]] || usage_error "missing the config file (the script's first argument)"
  [[ -f $1 ]] || usage_error "config file not found: $1 (paths are relative to the repository root, $PWD)"
}
# accelerate_config NAME: prints configs/accelerate/NAME.yaml, or fails naming the choices.
accelerate_config() {
  local path=configs/accelerate/$1.yaml names=() file
  if [[ ! -f $path ]]; then
    for file in configs/accelerate/*.yaml; do
      if [[ -f $file ]]; then names+=("$(basename "$file" .yaml)"); fi
    done
    usage_error "no accelerate config '$1' (choose from: ${names[*]:-none, configs/accelerate is empty})"
  fi
  printf '%s\n' "$path"
}
require_commands() { # require_commands CMD...: fail early, before any node is busy, if a tool is missing
  is_dry_run && return 0
  local name
  for name in "$@"; do
    command -v "$name" >/dev/null ||
      die "'$name' is not on PATH: activate Haggle's environment before sbatch (sbatch passes it to the job)"
  done
}

# -------------------- configs

config_value() { # config_value CONFIG KEY: the top-level KEY of a YAML file, empty when absent
  "$PYTHON" - "$1" "$2" <<'PY' || die "could not read '$2' from $1 with $PYTHON (is pyyaml installed?)"
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as handle:
    config = yaml.safe_load(handle) or {}
if not isinstance(config, dict):
    sys.exit(f"{sys.argv[1]}: expected a mapping at the top level")
value = config.get(sys.argv[2])
print("" if value is None else value)
PY
}

# -------------------- the job

# load_job_context DEFAULT_NAME: sets JOB_ID, JOB_NAME, NODES (array), NNODES, MAIN_NODE, LOG_DIR from SLURM.
load_job_context() {
  JOB_NAME=${SLURM_JOB_NAME:-$1}
  JOB_ID=${SLURM_JOB_ID}
  if [[ -n $SLURM_JOB_NODELIST ]]; then
    [[ -n $JOB_ID ]] || die "SLURM_JOB_NODELIST is set but SLURM_JOB_ID is not"
    command -v scontrol >/dev/null || die "scontrol is not on PATH, yet SLURM_JOB_NODELIST is set"
    local expanded
    expanded=$(scontrol show hostnames "$SLURM_JOB_NODELIST") ||
      die "scontrol could not expand the node list '$SLURM_JOB_NODELIST'"
    mapfile -t NODES <<<"$expanded"
  elif is_dry_run; then
    NODES=("${HOSTNAME%%.*}")
    JOB_ID=${JOB_ID:-preview}
    log "not inside a SLURM job: previewing one node, ${NODES[0]}"
  else
    die "not inside a SLURM job: submit with sbatch (see --help), or preview with --dry-run"
  fi
  NNODES=${#NODES[@]}
  if [[ -n $SLURM_NNODES && $SLURM_NNODES != "$NNODES" ]]; then
    die "SLURM_NNODES=$SLURM_NNODES but the node list '$SLURM_JOB_NODELIST' has $NNODES nodes"
  fi
  MAIN_NODE=${NODES[0]}
  LOG_DIR=logs/${JOB_NAME}-${JOB_ID}
  # Give each step every CPU of its node: a one-task step otherwise gets a single CPU on some clusters.
  STEP_CPU_ARGS=()
  if [[ -n $SLURM_CPUS_ON_NODE ]]; then STEP_CPU_ARGS=(--cpus-per-task="$SLURM_CPUS_ON_NODE"); fi
}

# gpus_per_node: what SLURM gave each node (the scripts assume identical nodes), else what nvidia-smi sees.
gpus_per_node() {
  # shellcheck disable=SC2153 # set by SLURM, not a misspelling of SLURM_CPUS_ON_NODE
  local count=${SLURM_GPUS_ON_NODE} ids
  if [[ -z $count && -n $SLURM_GPUS_PER_NODE ]]; then count=${SLURM_GPUS_PER_NODE##*:}; fi
  if [[ -z $count && -n $SLURM_JOB_GPUS ]]; then
    IFS=, read -ra ids <<<"$SLURM_JOB_GPUS"
    count=${#ids[@]}
  fi
  if [[ -z $count ]] && command -v nvidia-smi >/dev/null; then
    count=$(nvidia-smi -L | grep -c '^GPU' || true)
  fi
  if [[ ! $count =~ ^[0-9]+$ ]] || ((count < 1)); then
    is_dry_run || die "cannot tell how many GPUs a node has: pass --gpus-per-node N"
    log "dry run: no GPU count from SLURM or nvidia-smi, assuming 8 GPUs per node (--gpus-per-node N to change)"
    count=8
  fi
  printf '%s\n' "$count"
}

# server_tensor_parallel MODEL: the default vLLM tensor parallel size of a server sharing its node with the
# trainer: 2 GPUs for models of 14B parameters and more (as the README's table sizes them), else 1.
server_tensor_parallel() {
  local billions
  billions=$(sed -nE 's/.*[^0-9.]([0-9]+)(\.[0-9]+)?[Bb]([^a-zA-Z0-9].*)?$/\1/p' <<<"$1")
  if [[ -n $billions ]] && ((10#$billions >= 14)); then printf '2\n'; else printf '1\n'; fi
}

# job_port BASE: a port offset by the job id, so jobs sharing a node do not collide; stable across requeues.
job_port() {
  local digits=${JOB_ID//[^0-9]/}
  printf '%s\n' $(($1 + 10#${digits:-0} % 1000))
}

# gpu_range FIRST COUNT: "FIRST,FIRST+1,..." for CUDA_VISIBLE_DEVICES.
gpu_range() {
  local ids=() i
  for ((i = $1; i < $1 + $2; i++)); do ids+=("$i"); done
  (IFS=,; printf '%s\n' "${ids[*]}")
}

# setup_wandb: pass WANDB_* through; log offline when there is no API key; a requeued job continues its run.
setup_wandb() {
  export WANDB_PROJECT=${WANDB_PROJECT:-haggle}
  if [[ -z $WANDB_MODE ]]; then
    if [[ -n $WANDB_API_KEY ]] || grep -qs 'api.wandb.ai' "${NETRC:-$HOME/.netrc}"; then
      WANDB_MODE=online
    else
      WANDB_MODE=offline
      log "no WANDB_API_KEY: wandb logs offline (upload later with 'wandb sync')"
    fi
  fi
  export WANDB_MODE
  local run_id=${JOB_NAME}-${JOB_ID}
  export WANDB_RUN_ID=${WANDB_RUN_ID:-${run_id//[^A-Za-z0-9_.-]/-}}
  export WANDB_RESUME=${WANDB_RESUME:-allow}
  if [[ -n $WANDB_ENTITY ]]; then export WANDB_ENTITY; fi
}

# start_job CONFIG: the per-job log directory (with a copy of the config), wandb, requeue on USR1.
start_job() {
  setup_wandb
  # Fail fast on a hung or broken collective instead of waiting for the time limit.
  export TORCH_NCCL_ASYNC_ERROR_HANDLING=${TORCH_NCCL_ASYNC_ERROR_HANDLING:-1}
  local nodelist summary environment
  nodelist=$(IFS=,; printf '%s' "${NODES[*]}")
  summary="job=$JOB_ID name=$JOB_NAME nodes=$nodelist log_dir=$LOG_DIR/"
  environment="WANDB_PROJECT=$WANDB_PROJECT WANDB_ENTITY=${WANDB_ENTITY:-} WANDB_MODE=$WANDB_MODE"
  environment+=" WANDB_RUN_ID=$WANDB_RUN_ID WANDB_RESUME=$WANDB_RESUME"
  environment+=" TORCH_NCCL_ASYNC_ERROR_HANDLING=$TORCH_NCCL_ASYNC_ERROR_HANDLING"
  if is_dry_run; then
    printf '[dry-run] %s\n[dry-run] env: %s\n' "$summary" "$environment"
    return 0
  fi
  mkdir -p "$LOG_DIR"
  cp "$1" "$LOG_DIR/"
  printf '# %s restart=%s %s\n# env: %s\n' "$(date -Is)" "${SLURM_RESTART_COUNT:-0}" "$summary" \
    "$environment" >>"$LOG_DIR/commands.txt"
  log "$summary"
  trap requeue_job USR1
  trap stop_steps EXIT
}

# -------------------- commands

# quote_command ARG...: one copy-pasteable shell line; plain words stay bare.
quote_command() {
  local arg words=() escaped="'\\''"
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
      words+=("$arg")
    else
      words+=("'${arg//\'/$escaped}'")
    fi
  done
  printf '%s\n' "${words[*]}"
}

# announce NODE ROLE TEXT: the dry run prints it; a real run logs it and appends it to commands.txt.
announce() {
  local line="node=$1 role=$2: $3"
  if is_dry_run; then
    printf '[dry-run] %s\n' "$line"
  else
    log "$line"
    printf '%s\n' "$line" >>"$LOG_DIR/commands.txt"
  fi
}

# start_step COMMAND...: run a step in the background; STEP_PID is its pid, stopped on exit.
start_step() {
  "$@" &
  STEP_PID=$!
  STEP_PIDS+=("$STEP_PID")
}

# run_step COMMAND...: run a step and return its status; waiting in the background keeps USR1 responsive
# (bash runs a trap only once the foreground command has finished).
run_step() {
  start_step "$@"
  local status=0
  wait "$STEP_PID" || status=$?
  return "$status"
}

stop_steps() {
  local pid
  for pid in "${STEP_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}

# requeue_job: the USR1 trap. `#SBATCH --signal=B:USR1@180` sends it before a time limit or on preemption;
# the job goes back to the queue with the same id, so the rerun finds its checkpoints and run directory.
requeue_job() {
  local restarts=${SLURM_RESTART_COUNT:-0}
  if ((restarts >= MAX_REQUEUES)); then
    log "USR1: job $JOB_ID was already requeued $restarts times (MAX_REQUEUES=$MAX_REQUEUES); not requeueing"
    exit 1
  fi
  log "USR1 (time limit or preemption near): requeueing job $JOB_ID; the rerun resumes where this one stopped"
  scontrol requeue "$JOB_ID" || die "scontrol requeue $JOB_ID failed: resubmit the same command to resume"
  exit 0
}

# wait_for_health URL TIMEOUT_S SERVER_PID SERVER_LOG: bounded wait for a vLLM server's /health endpoint.
wait_for_health() {
  local url=$1 timeout=$2 pid=$3 server_log=$4
  local deadline=$((SECONDS + timeout))
  log "waiting up to ${timeout}s for $url"
  local probe='import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)'
  until "$PYTHON" -c "$probe" "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "the vLLM server exited before it became healthy; see $server_log"
    ((SECONDS < deadline)) ||
      die "the vLLM server at $url was not healthy after ${timeout}s; see $server_log" \
        "(raise --health-timeout if it is still loading the model)"
    sleep 2
  done
  log "vLLM server is healthy: $url"
}

# -------------------- training

# trainer_setting KEY CONFIG TRAINER_ARG...: the trainer's KEY; a --KEY flag overrides the config's value.
trainer_setting() {
  local key=$1 value arg previous=""
  value=$(config_value "$2" "$key") || exit 1
  for arg in "${@:3}"; do
    if [[ $previous == "--$key" ]]; then value=$arg; fi
    if [[ $arg == "--$key="* ]]; then value=${arg#"--$key="}; fi
    previous=$arg
  done
  printf '%s\n' "$value"
}

# wants_resume EXPLICIT CONFIG TRAINER_ARG...: resume if asked, or after a requeue when a checkpoint exists.
wants_resume() {
  [[ $1 == 1 ]] && return 0
  ((${SLURM_RESTART_COUNT:-0} > 0)) || return 1
  local output_dir
  output_dir=$(trainer_setting output_dir "${@:2}") || exit 1
  [[ -n $output_dir ]] && compgen -G "$output_dir/checkpoint-*" >/dev/null
}

# run_trainer SCRIPT ARG...: one `accelerate launch` per node of TRAIN_NODES under a single srun step, so a
# failure on any node ends them all. Reads ACCELERATE_CONFIG, TRAIN_PROCESSES, and TRAIN_GPUS (a
# CUDA_VISIBLE_DEVICES list, only when the trainer shares its node with a vLLM server).
run_trainer() {
  local count=${#TRAIN_NODES[@]} nodelist rank
  nodelist=$(IFS=,; printf '%s' "${TRAIN_NODES[*]}")
  local launch_args=(--config_file "$ACCELERATE_CONFIG" --num_machines "$count"
    --num_processes "$TRAIN_PROCESSES" --main_process_ip "$MAIN_NODE"
    --main_process_port "$(job_port 29500)" "$@")
  local prefix=()
  if [[ -n $TRAIN_GPUS ]]; then prefix=(env "CUDA_VISIBLE_DEVICES=$TRAIN_GPUS"); fi
  local step=(srun --kill-on-bad-exit=1 --wait=60 --label --nodes="$count" --ntasks="$count"
    --ntasks-per-node=1 --nodelist="$nodelist" "${STEP_CPU_ARGS[@]}")
  if [[ -n $TRAIN_GPUS ]]; then step+=(--overlap); fi
  # The machine rank is SLURM's task rank, known only on each node; the single quotes keep it for that node.
  # shellcheck disable=SC2016
  step+=("${prefix[@]}" bash -c 'exec accelerate launch --machine_rank "$SLURM_PROCID" "$@"' accelerate
    "${launch_args[@]}")
  announce "$nodelist" trainer-step "$(quote_command "${step[@]}")"
  for rank in "${!TRAIN_NODES[@]}"; do
    announce "${TRAIN_NODES[rank]}" "trainer rank=$rank" \
      "$(quote_command "${prefix[@]}" accelerate launch --machine_rank "$rank" "${launch_args[@]}")"
  done
  is_dry_run && return 0
  run_step "${step[@]}"
}
