# shellcheck shell=bash
# The shared body of slurm/eval.slurm and slurm/tournament.slurm (sourced after common.sh): serve the model
# under test with `vllm serve` on the job's node, wait for GET /health, then run `haggle eval` or
# `haggle tournament` against it with HAGGLE_BASE_URL exported. Array jobs pick one seed or one checkpoint.

# vLLM refuses LoRA adapters whose rank exceeds --max-lora-rank (default 16); these are the values it accepts.
VLLM_LORA_RANKS=(8 16 32 64 128 256 320 512)

# lora_rank DIR: the rank `r` of a PEFT adapter directory.
lora_rank() {
  [[ -f $1/adapter_config.json ]] || die "$1 is not a LoRA adapter directory (no adapter_config.json)"
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["r"])' "$1/adapter_config.json" ||
    die "could not read the LoRA rank r from $1/adapter_config.json"
}

# max_lora_rank ADAPTER_DIR...: the smallest --max-lora-rank vLLM accepts for them all; empty if 16 will do.
max_lora_rank() {
  local dir rank highest=0 allowed
  for dir in "$@"; do
    rank=$(lora_rank "$dir") || exit 1
    if ((rank > highest)); then highest=$rank; fi
  done
  ((highest > 16)) || return 0
  for allowed in "${VLLM_LORA_RANKS[@]}"; do
    if ((allowed >= highest)); then
      printf '%s\n' "$allowed"
      return 0
    fi
  done
  die "LoRA rank $highest is above the largest --max-lora-rank vLLM accepts (${VLLM_LORA_RANKS[*]})"
}

# served_run COMMAND ARG...: COMMAND is eval or tournament; ARG... are the script's arguments.
served_run() {
  local command=$1
  shift
  local config="" model="" run_dir="" checkpoints="" tensor_parallel=1 health_timeout=900
  local adapters=() vllm_args=() haggle_args=()
  # shellcheck disable=SC2034 # DRY_RUN is read by common.sh
  while (($#)); do
    case $1 in
      -h | --help) print_usage "${BASH_SOURCE[1]}"; exit 0 ;;
      --dry-run) DRY_RUN=1; shift ;;
      --model) require_value "$1" "$2"; model=$2; shift 2 ;;
      --adapter) [[ $2 == ?*=?* ]] || usage_error "--adapter needs NAME=DIR"; adapters+=("$2"); shift 2 ;;
      --checkpoints) require_value "$1" "$2"; checkpoints=$2; shift 2 ;;
      --run-dir) require_value "$1" "$2"; run_dir=$2; shift 2 ;;
      --tp) require_int "$1" "$2" 1; tensor_parallel=$2; shift 2 ;;
      --health-timeout) require_int "$1" "$2" 1; health_timeout=$2; shift 2 ;;
      --vllm-arg=*) vllm_args+=("${1#--vllm-arg=}"); shift ;;
      --vllm-arg) [[ -n $2 ]] || usage_error "--vllm-arg needs a value"; vllm_args+=("$2"); shift 2 ;;
      --) shift; haggle_args=("$@"); break ;;
      -*) usage_error "unknown option $1" ;;
      *) [[ -z $config ]] || usage_error "one config only, got $config and $1"; config=$1; shift ;;
    esac
  done
  require_config "$config"

  load_job_context "haggle-$command"
  ((NNODES == 1)) || usage_error "haggle $command serves one model on one node, but the job has" \
    "$NNODES nodes: spread seeds or checkpoints over nodes with an array job (sbatch --array=0-9 ...)"
  if [[ -n $SLURM_GPUS_ON_NODE ]] && ((tensor_parallel > SLURM_GPUS_ON_NODE)); then
    usage_error "--tp $tensor_parallel needs as many GPUs, but the job has $SLURM_GPUS_ON_NODE" \
      "(sbatch --gres=gpu:N)"
  fi
  local task=$SLURM_ARRAY_TASK_ID served=$model checkpoint_name="" client_env=()

  # -------------------- what this array task runs
  if [[ -n $checkpoints ]]; then
    local matches=() checkpoint
    mapfile -t matches < <(compgen -G "$checkpoints" | sort -V)
    ((${#matches[@]} > 0)) || usage_error "--checkpoints '$checkpoints' matches nothing"
    local last=$((${#matches[@]} - 1))
    [[ -n $task ]] || usage_error "--checkpoints needs an array job: sbatch --array=0-$last ..."
    ((task <= last)) || die "array task $task, but '$checkpoints' matches only ${#matches[@]} checkpoints"
    checkpoint=${matches[task]%/}
    checkpoint_name=${checkpoint##*/}
    if [[ -f $checkpoint/adapter_config.json ]]; then
      adapters+=("$checkpoint_name=$checkpoint")
    else
      served=$checkpoint # a full model directory
    fi
  elif [[ -n $task ]]; then
    client_env+=("HAGGLE_SEED=$task") # configs read it as ${HAGGLE_SEED}
  fi
  [[ -n $served ]] || usage_error "--model is required (the base model that vLLM serves)"
  local adapter lora_dirs=() lora_rank_cap
  for adapter in "${adapters[@]}"; do lora_dirs+=("${adapter#*=}"); done
  lora_rank_cap=$(max_lora_rank "${lora_dirs[@]}") || exit 1

  # HAGGLE_MODEL names what configs should ask the server for: the one adapter, else the served model.
  local haggle_model=$served
  if ((${#adapters[@]} == 1)); then haggle_model=${adapters[0]%%=*}; fi
  if [[ -z $run_dir ]]; then
    local stem=${config##*/}
    run_dir=runs/$command/${stem%.*}-${SLURM_ARRAY_JOB_ID:-$JOB_ID}
  fi
  if [[ -n $task ]]; then run_dir+=/task-$task${checkpoint_name:+-$checkpoint_name}; fi

  require_commands srun vllm haggle
  start_job "$config"

  # -------------------- vLLM server
  local port server_log=$LOG_DIR/vllm-server.out
  port=$(job_port 8000)
  local server=(srun --kill-on-bad-exit=1 --nodes=1 --ntasks=1 --nodelist="$MAIN_NODE" --output="$server_log"
    "${STEP_CPU_ARGS[@]}"
    vllm serve "$served" --host 127.0.0.1 --port "$port" --tensor-parallel-size "$tensor_parallel")
  if ((${#adapters[@]} > 0)); then server+=(--enable-lora --lora-modules "${adapters[@]}"); fi
  if [[ -n $lora_rank_cap ]]; then server+=(--max-lora-rank "$lora_rank_cap"); fi
  server+=(--enable-auto-tool-choice --tool-call-parser hermes "${vllm_args[@]}")
  announce "$MAIN_NODE" vllm-server "$(quote_command "${server[@]}")"
  announce "$MAIN_NODE" health-check "GET http://127.0.0.1:$port/health (up to ${health_timeout}s)"
  if ! is_dry_run; then
    start_step "${server[@]}"
    wait_for_health "http://127.0.0.1:$port/health" "$health_timeout" "$STEP_PID" "$server_log"
  fi

  # -------------------- the haggle client
  # A rerun (requeue) writes to the same run directory, where haggle picks up the finished episodes.
  local client=(env "HAGGLE_BASE_URL=http://127.0.0.1:$port/v1" "HAGGLE_MODEL=$haggle_model"
    "${client_env[@]}" haggle "$command" --config "$config" --out "$run_dir" "${haggle_args[@]}")
  announce "$MAIN_NODE" "$command" "$(quote_command "${client[@]}")"
  is_dry_run && return 0
  run_step "${client[@]}"
}
