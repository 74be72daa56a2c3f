from .finite_loss_check_hook import FiniteLossCheckHook
from .rng_state_hook import RNGStateHook

__all__ = ['FiniteLossCheckHook', 'RNGStateHook']
