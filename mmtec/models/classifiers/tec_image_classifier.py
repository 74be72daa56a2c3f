"""MMPretrain's ImageClassifier that also loads bare ViT backbone files."""
from mmpretrain.models.classifiers import ImageClassifier

from mmtec.converters import drop_final_norm, is_bare_vit_key, read_vit
from mmtec.registry import MODELS


@MODELS.register_module()
class TECImageClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose ``load_state_dict`` accepts backbone-only
    ViT files (the TEC released layout, TEC raw checkpoints, timm/MAE).

    ``load_from`` and ``get_model(name, pretrained=file)`` load whole-model
    state dicts; a released TEC file only holds a bare timm-style backbone.
    Such keys are translated into ``backbone.*`` (the input adapter of a raw
    checkpoint merged, or kept for a backbone with ``input_adapter=True``);
    state dicts of a whole classifier load as usual.

    Args:
        **kwargs: Arguments of MMPretrain's ``ImageClassifier``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._register_load_state_dict_pre_hook(self._translate_bare_vit)

    def _translate_bare_vit(self, state_dict, prefix, *args, **kwargs):
        # the layout reader decides which keys are a bare ViT's
        bare = [
            k for k in state_dict
            if k.startswith(prefix) and is_bare_vit_key(k[len(prefix):])
        ]
        if not bare or any(
                k.startswith(prefix + 'backbone.') for k in state_dict):
            return
        keep_adapter = getattr(self.backbone, 'input_adapter',
                               None) is not None
        plain, _ = read_vit(
            {k[len(prefix):]: state_dict.pop(k)
             for k in bare}, strict=False,
            merge_input_adapter=not keep_adapter)
        if not getattr(self.backbone, 'final_norm', True):
            plain = drop_final_norm(plain)  # a GAP classifier has none
        state_dict.update(
            {f'{prefix}backbone.{k}': v
             for k, v in plain.items()})
        if hasattr(self.backbone, '_prepare_pos_embed'):
            self.backbone._prepare_pos_embed(state_dict, prefix + 'backbone.')
