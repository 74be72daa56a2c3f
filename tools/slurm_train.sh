#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     [PREEMPT_SIGNAL=USR1@120] \
#     bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [args]
# PREEMPT_SIGNAL: Slurm sends this signal to the training processes that
# many seconds before the time limit or a preemption (srun --signal), so
# that they save a checkpoint and exit; set it empty to send none.
set -e

USAGE="Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
[PREEMPT_SIGNAL=USR1@120] bash $0 PARTITION JOB_NAME CONFIG WORK_DIR \
[train.py arguments]"
case "${1:-}" in -h|--help) echo "$USAGE"; exit 0;; esac
if [ $# -lt 4 ] || [ -z "$1" ] || [ -z "$2" ] || [ -z "$3" ] || [ -z "$4" ]
then
    echo "$USAGE" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
if [ ! -f "$CONFIG" ]; then
    echo "Config file $CONFIG does not exist; give a path such as" \
        "configs/tec_vit-b_800e_in1k.py." >&2
    exit 2
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PREEMPT_SIGNAL=${PREEMPT_SIGNAL-USR1@120}
SIGNAL_ARGS=()
if [ -n "$PREEMPT_SIGNAL" ]; then
    SIGNAL_ARGS=(--signal="$PREEMPT_SIGNAL")
fi

set -x
# SRUN_ARGS is split into words on purpose (several srun options)
# shellcheck disable=SC2086
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    "${SIGNAL_ARGS[@]}" \
    ${SRUN_ARGS} \
    python -u tools/train.py "${CONFIG}" --work-dir="${WORK_DIR}" \
    --launcher="slurm" "${@:5}"
