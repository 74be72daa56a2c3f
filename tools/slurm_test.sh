#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args]
# Evaluates CHECKPOINT (a file or an http(s) URL) with tools/test.py on
# GPUS processes under Slurm; further arguments go to tools/test.py.
set -e

USAGE="Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]"
if [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
    echo "$USAGE"
    exit 0
fi
if [ $# -lt 4 ] || [ -z "$1" ] || [ -z "$2" ] || [ -z "$3" ] || [ -z "$4" ]
then
    echo "$USAGE" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
if [ ! -f "$CONFIG" ]; then
    echo "Config file $CONFIG does not exist; give a path such as" \
        "configs/benchmarks/vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py." >&2
    exit 2
fi
case "$CHECKPOINT" in
    http://*|https://*) ;;
    *) if [ ! -f "$CHECKPOINT" ]; then
           echo "Checkpoint file $CHECKPOINT does not exist; give the" \
               "file a training run wrote (e.g. work_dirs/NAME/epoch_100.pth)" \
               "or an http(s) URL." >&2
           exit 2
       fi ;;
esac
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

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
    ${SRUN_ARGS} \
    python -u tools/test.py "${CONFIG}" "${CHECKPOINT}" \
    --launcher="slurm" "${@:5}"
