"""Refuse a loaded checkpoint that fills none of the model's weights."""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmtec.registry import HOOKS


class UnmatchedCheckpointError(RuntimeError):
    """A ``load_from``/``--resume`` checkpoint shares no key with the model.
    """


def _sample(keys, n: int = 3) -> str:
    keys = sorted(keys)
    return ', '.join(keys[:n]) + (', ...' if len(keys) > n else '')


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Stop when ``load_from`` (or ``--resume``) loads none of the model's
    weights.

    MMEngine loads ``load_from`` non-strictly and only warns about missing
    keys, so a checkpoint of another model or layout trains from random
    initialisation. This hook checks, after the model's own load hooks
    have translated the keys (e.g. ``TECImageClassifier`` reading a bare
    ViT file), that at least one of the model's parameters or buffers came
    from the checkpoint; partial matches (fine-tuning from a backbone) are
    fine. Set ``allow_unmatched_checkpoint = True`` at the top level of the
    config (``--cfg-options allow_unmatched_checkpoint=True``) to go on
    with only a warning.

    ``init_cfg=dict(type='Pretrained', ...)`` loads through the model's
    ``init_weights``, not the runner, and is not checked here.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        allowed = bool(runner.cfg.get('allow_unmatched_checkpoint', False))
        state = checkpoint.get('state_dict', checkpoint) \
            if isinstance(checkpoint, dict) else {}
        handle = None

        # a post hook sees the keys after the model's pre hooks renamed them
        def check(module, incompatible) -> None:
            handle.remove()
            own = [k for k in module.state_dict()
                   if not k.endswith('num_batches_tracked')]
            missing = set(incompatible.missing_keys)
            if own and all(k in missing for k in own):
                message = (
                    f'{source}: none of its {len(state)} keys '
                    f'({_sample(state)}) is one of the model\'s {len(own)} '
                    f'({_sample(own)}); training would start from random '
                    'weights. Convert the file to this model\'s layout '
                    '(tools/model_converters/tec2vit.py) or fix load_from; '
                    'set allow_unmatched_checkpoint=True to go on anyway.')
                if not allowed:
                    raise UnmatchedCheckpointError(message)
                print_log(message, logger='current', level=logging.WARNING)

        handle = model.register_load_state_dict_post_hook(check)
