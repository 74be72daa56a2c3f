"""MMPretrain's ImageClassifier that also loads bare ViT backbone files."""
from mmpretrain.models.classifiers import ImageClassifier

from mmtec.converters import drop_final_norm, is_bare_vit_key, read_vit
from mmtec.registry import MODELS


@MODELS.register_module()
class TECImageClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose ``load_state_dict`` (``load_from``,
    ``get_model(name, pretrained=file)``) also takes a bare timm-style ViT,
    as TEC releases it, translated into ``backbone.*`` (a raw checkpoint's
    input adapter merged, or kept for ``input_adapter=True``).

    Args:
        **kwargs: Arguments of MMPretrain's ``ImageClassifier``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._register_load_state_dict_pre_hook(self._translate_bare_vit)

    def _translate_bare_vit(self, state_dict, prefix, *args, **kwargs):
        # the layout reader decides which keys are a bare ViT's
        bare = [k for k in state_dict
                if k.startswith(prefix) and is_bare_vit_key(k[len(prefix):])]
        if not bare or any(
                k.startswith(prefix + 'backbone.') for k in state_dict):
            return
        adapter = getattr(self.backbone, 'input_adapter', None)
        bare = {k[len(prefix):]: state_dict.pop(k) for k in bare}
        plain, _ = read_vit(bare, strict=False,
                            merge_input_adapter=adapter is None)
        if not getattr(self.backbone, 'final_norm', True):
            plain = drop_final_norm(plain)  # a GAP classifier has none
        state_dict.update(
            {f'{prefix}backbone.{k}': v for k, v in plain.items()})
        if hasattr(self.backbone, '_prepare_pos_embed'):
            self.backbone._prepare_pos_embed(state_dict, prefix + 'backbone.')
