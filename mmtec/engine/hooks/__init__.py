from .compute_record_hook import ComputeRecordHook
from .finite_loss_check_hook import FiniteLossCheckHook
from .rng_state_hook import RNGStateHook

__all__ = ['ComputeRecordHook', 'FiniteLossCheckHook', 'RNGStateHook']
