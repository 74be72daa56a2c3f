#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Without GPUs, GPUS processes train on the CPU with the gloo backend.
set -e
case "${1:-}" in
    -h|--help) echo "Usage: bash $0 CONFIG GPUS [train.py arguments]"; exit 0;;
esac
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

if [ -z "$CONFIG" ] || [ -z "$GPUS" ]; then
    echo "Usage: bash $0 CONFIG GPUS [train.py arguments]" >&2
    exit 2
fi

# A SIGTERM or SIGUSR1 to this script is passed to torchrun, which passes
# it on to every process; each saves preempted_iter_<N>.pth (PreemptionHook)
# and exits with 75, and torchrun waits up to TORCH_ELASTIC_SHUTDOWN_TIMEOUT
# seconds for that. torchrun reports its processes' exit as its own failure,
# so rank 0 leaves a marker and this script then exits with 75 itself: the
# code to requeue on.
export MMTEC_PREEMPTED_MARKER="${TMPDIR:-/tmp}/mmtec_preempted.$$"
rm -f "$MMTEC_PREEMPTED_MARKER"
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
PET_SIGNALS_TO_HANDLE=${PET_SIGNALS_TO_HANDLE:-SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1} \
TORCH_ELASTIC_SHUTDOWN_TIMEOUT=${TORCH_ELASTIC_SHUTDOWN_TIMEOUT:-300} \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")"/train.py \
    "$CONFIG" \
    --launcher pytorch "${@:3}" &
pid=$!
for sig in TERM USR1 INT HUP; do
    trap "kill -s $sig $pid 2>/dev/null" "$sig"
done
rc=0
while :; do
    wait "$pid" || rc=$?
    # a trapped signal ends `wait` early; wait again until torchrun is done
    kill -0 "$pid" 2>/dev/null || break
done
if [ -f "$MMTEC_PREEMPTED_MARKER" ]; then
    rm -f "$MMTEC_PREEMPTED_MARKER"
    exit 75
fi
exit "$rc"
