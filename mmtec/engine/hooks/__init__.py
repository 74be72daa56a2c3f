from .accumulated_gradients_hook import AccumulatedGradientsHook
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_match_hook import (
                                    CheckpointMatchHook,
                                    UnmatchedCheckpointError,
)
from .compute_record_hook import ComputeRecordHook
from .finite_loss_check_hook import FiniteLossCheckHook
from .preemption_hook import PreemptionHook
from .resume_check_hook import ResumeCheckHook
from .rng_state_hook import RNGStateHook
from .skipped_images_hook import SkippedImagesHook

__all__ = [
    'AccumulatedGradientsHook', 'AtomicCheckpointHook', 'CheckpointMatchHook',
    'ComputeRecordHook', 'FiniteLossCheckHook', 'PreemptionHook',
    'ResumeCheckHook', 'RNGStateHook', 'SkippedImagesHook',
    'UnmatchedCheckpointError'
]
