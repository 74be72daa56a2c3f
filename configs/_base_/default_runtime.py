default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmtec'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # save every 20 epochs (and at the end), keep the last 3
    checkpoint=dict(type='CheckpointHook', interval=20, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

custom_hooks = [
    # stop on a NaN/inf loss before a checkpoint of the diverged run is saved
    dict(type='FiniteLossCheckHook', interval=1),
    # keep RNG states in checkpoints so that --resume continues exactly
    dict(type='RNGStateHook'),
    # model FLOPs and device-hours of the run, summary in compute.json
    dict(type='ComputeRecordHook', interval=50),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_processor = dict(window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
