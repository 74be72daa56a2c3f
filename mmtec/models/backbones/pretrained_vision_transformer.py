"""The ViT that TEC's models are fine-tuned as."""
from typing import Sequence

from mmcv.cnn.bricks.transformer import FFN
from mmengine.logging import print_log
from mmpretrain.models.backbones import VisionTransformer

from mmtec.checkpoint import BackboneCheckpointError
from mmtec.models.utils import embed_tokens, run_block
from mmtec.models.utils.checked_loading import CheckedPretrainedMixin
from mmtec.registry import MODELS


@MODELS.register_module()
class PretrainedVisionTransformer(CheckedPretrainedMixin, VisionTransformer):
    """MMPretrain's ``VisionTransformer`` that loads TEC checkpoints,
    checked, and fine-tunes as TEC's authors do.

    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` reads any layout
    mmtec reads (:class:`CheckedPretrainedMixin`; ``prefix`` is used when
    the file has it, ``trust``: :mod:`mmtec.checkpoint.trust`): every
    backbone weight but ``new_by_design`` ones must come from the file, so
    a wrong file never leaves random weights. TEC's fine-tuning model
    (``main_finetune.py --mlp_token``) differs from a plain ViT by the
    arguments below and by :meth:`get_layer_depth`.

    Args:
        input_adapter (bool): Pass the class token through the pretraining
            input adapter (Linear-GELU-Linear, hidden ``4 * C``), loaded
            from a raw TEC or mmtec pretraining file and trained. With
            False such a file's adapter is merged into the class token (a
            released file has it merged already). Defaults to False.
        fixed_pos_embed (bool): Keep the position embedding out of training
            (``requires_grad=False``). Defaults to False.
        with_cp (bool): Activation checkpointing. Defaults to False.
        new_by_design (Sequence[str]): Regexes of backbone keys allowed to be
            missing from a pretrained checkpoint. Defaults to the ``fc_norm``
            of ``out_type='avg_featmap'`` (``ln2.*``).
        **kwargs: Arguments of MMPretrain's ``VisionTransformer``.
    """

    prefix_optional = True

    def __init__(self,
                 *args,
                 input_adapter: bool = False,
                 fixed_pos_embed: bool = False,
                 with_cp: bool = False,
                 new_by_design: Sequence[str] = (r'^ln2\.', ),
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.new_by_design = tuple(new_by_design)
        self.input_adapter = FFN(
            self.embed_dims, 4 * self.embed_dims, act_cfg=dict(type='GELU'),
            add_identity=False) if input_adapter else None
        if fixed_pos_embed:
            self.pos_embed.requires_grad_(False)
        self.with_cp = with_cp

    def _pos_embed_extra_tokens(self) -> int:
        return self.num_extra_tokens

    def _keeps_input_adapter(self) -> bool:
        return self.input_adapter is not None

    def _to_own_layout(self, state):
        if self.input_adapter is not None and not any(
                k.startswith('input_adapter.') for k in state):
            raise BackboneCheckpointError(
                'input_adapter=True needs a raw TEC or mmtec pretraining '
                'checkpoint; this one has no input adapter (a released or '
                'converted file: its class token is already merged). Set '
                'model.backbone.input_adapter=False to fine-tune it.')
        return state

    def load_pretrained(self, *args, **kwargs) -> dict:
        """:meth:`CheckedPretrainedMixin.load_pretrained`, saying so when a
        raw checkpoint's input adapter is merged rather than kept."""
        report = super().load_pretrained(*args, **kwargs)
        if report['input_adapter'] == 'merged':
            print_log(
                'The checkpoint\'s input adapter was merged into the class '
                'token; TEC\'s authors fine-tune the adapter itself: '
                'model.backbone.input_adapter=True.', logger='current')
        return report

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """MMPretrain's layer-decay ``(depth, number of depths)``, but the
        class token at the top depth, as TEC's ``param_groups_lrd``."""
        depth, num_depths = super().get_layer_depth(param_name, prefix)
        if param_name == prefix + 'cls_token':
            depth = num_depths - 1
        return depth, num_depths

    def forward(self, x):
        """MMPretrain's ``VisionTransformer.forward``, with the class token
        through the input adapter and optional activation checkpointing."""
        cls_token = None if self.input_adapter is None else \
            self.input_adapter(self.cls_token)
        x, hw = embed_tokens(self, x, cls_token)  # dropout, pre-norm incl.
        outs = []
        for i, layer in enumerate(self.layers):
            x = run_block(layer, x, self.with_cp)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, hw))
        return tuple(outs)
