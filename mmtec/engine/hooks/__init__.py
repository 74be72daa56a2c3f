from .atomic_checkpoint_hook import AtomicCheckpointHook
from .compute_record_hook import ComputeRecordHook
from .exact_resume_hook import ExactResumeHook, UnmatchedCheckpointError
from .finite_loss_check_hook import FiniteLossCheckHook
from .preemption_hook import PreemptionHook
from .skipped_images_hook import SkippedImagesHook

__all__ = [
    'AtomicCheckpointHook', 'ComputeRecordHook', 'ExactResumeHook',
    'FiniteLossCheckHook', 'PreemptionHook', 'SkippedImagesHook',
    'UnmatchedCheckpointError'
]
