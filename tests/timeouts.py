"""Bounds on the processes the tests start, so that a hung one (a stuck
gloo rendezvous, a dataloader worker that never exits) fails its test
instead of hanging CI. Generous: several times the slowest run measured on
a 2-core CPU."""
# a tool on tiny inputs (converter, git, the benchmark's few steps)
TOOL_S = 600
# a tiny training run through tools/train.py (two gloo processes included)
# or building a wheel
TRAIN_S = 1800
