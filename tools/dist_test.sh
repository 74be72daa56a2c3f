#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
set -e
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

USAGE="Usage: bash $0 CONFIG CHECKPOINT GPUS [test.py arguments]"
case "$CONFIG" in -h|--help) echo "$USAGE"; exit 0;; esac
if [ -z "$CONFIG" ] || [ -z "$CHECKPOINT" ] || [ -z "$GPUS" ]; then
    echo "$USAGE" >&2
    exit 2
fi

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")"/test.py \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
