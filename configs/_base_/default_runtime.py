# `_base_` first: MMEngine reads a file whose first statement is an import as
# a lazy-import config, which the other (plain) configs cannot inherit
_base_ = []
import importlib.util  # noqa: E402

default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmtec'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # save every 20 epochs (and at the end), keep the last 3; each save is
    # written to a temporary file and renamed, old ones removed afterwards,
    # and the free space for 3 + 1 checkpoints is checked before training;
    # checkpoints are plain data (torch.load(weights_only=True) reads them)
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=20, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

custom_hooks = [
    # stop on a NaN/inf loss before a checkpoint of the diverged run is saved
    dict(type='FiniteLossCheckHook', interval=1),
    # random states and an open accumulation window in checkpoints, so that
    # --resume continues exactly; accumulation windows restart each epoch
    # (the authors' loop); warnings on --resume about changed world size /
    # batch / accumulation; stop when load_from/--resume fills none of the
    # model's weights
    dict(type='ExactResumeHook'),
    # model FLOPs and device-hours of the run, summary in compute.json
    dict(type='ComputeRecordHook', interval=50),
    # count images LoadImageOrSkip skipped; stop above 0.1% per epoch
    dict(type='SkippedImagesHook', max_bad_fraction=1e-3),
    # on SIGTERM or SIGUSR1: finish the iteration, save
    # preempted_iter_<N>.pth, exit with code 75 (requeue, then --resume)
    dict(type='PreemptionHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# scalars as json (tools/visualization/plot_loss_curve.py), and as TensorBoard
# events when the tensorboard package is installed (`tensorboard --logdir
# work_dirs`)
vis_backends = [dict(type='LocalVisBackend')]
if importlib.util.find_spec('tensorboard') is not None:
    vis_backends.append(dict(type='TensorboardVisBackend'))
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_processor = dict(window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
# True: a load_from checkpoint that matches none of the model's keys only
# warns (ExactResumeHook) instead of stopping the run
allow_unmatched_checkpoint = False
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
