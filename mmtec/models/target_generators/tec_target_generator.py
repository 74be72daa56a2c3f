"""The frozen base model that computes TEC's targets."""
import copy
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmpretrain.models.backbones import VisionTransformer

from mmtec.checkpoint import CheckpointLayoutError
from mmtec.converters import read_vit
from mmtec.registry import MODELS
from ..utils import (arch_name, attention_scale, block_qkv, compiled_method,
                     embed_tokens, native_bf16, resolve_arch)

@MODELS.register_module()
class TECTargetGenerator(BaseModule):
    """Frozen pretrained ViT that produces TEC's feature and attention targets.

    Its weights come from ``checkpoint`` in any layout mmtec recognises (MAE,
    iBOT/DINO, DeiT/timm, MMPretrain, TEC released or raw, mmtec
    pretraining); the layout is detected and position embeddings are
    interpolated when the resolution differs. It never runs from random
    weights: a missing file or an architecture mismatch raises an error.
    It stays in eval mode and has no trainable parameters.

    On the unmasked image it returns

    - the *feature target*: patch tokens of the last ``last_layers`` block
      outputs (before the final norm), averaged, ``[B, L, C]``;
    - the *attention target*: the last block's pre-softmax logits of the
      class token and the ``topk`` patches (ranked by the head-averaged
      class-token logits) against all patch keys, ``[B, 1+topk, H, L]``,
      and the picked patch indices ``[B, topk]``.

    Every block but the last uses fused attention; only the rows of the last
    block's logits that form the target are materialised.

    Args:
        checkpoint (str): The base model's weights: a file path, an
            http(s) URL (downloaded once into torch hub's cache, checked
            and read before it is cached), or a model name of
            ``mmpretrain.list_models()`` (TEC's released models included),
            whose weights URL is taken from the model zoo. Required.
        arch (str | dict): ``'s'``, ``'b'``, ``'l'``, ``'h'`` or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``,
            ``feedforward_channels``. Defaults to 'b'.
        img_size (int): Input size. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        last_layers (int): Blocks averaged for the feature target.
            Defaults to 2.
        topk (int): Patch query rows kept in the attention target.
            Defaults to 15.
        use_attention_target (bool): Compute the attention target.
            Defaults to True.
        norm_cfg (dict): Norm config. Defaults to LN with eps 1e-6.
        trust_checkpoint (bool): Load ``checkpoint`` even if the checkpoint
            loader refuses it as possibly malicious (it may then run code;
            logged as a WARNING). Defaults to False.
        weights_dtype (str, optional): Hold the frozen weights in this dtype
            (``'bfloat16'`` or ``'float16'``) and run the base model in it
            with autocast off, so no weight is cast at each step; targets
            are returned in that dtype (the losses compute in fp32).
            ``'auto'``: bfloat16 where the machine computes it natively (a
            CUDA GPU with bf16, a CPU with AVX512-BF16/AMX-BF16), else fp32;
            the choice is logged. None (or ``'float32'``) keeps fp32 weights
            (and follows any surrounding autocast): reproducible numbers.
            Defaults to None.
        compile (bool | dict): ``torch.compile`` the target computation
            (True or ``torch.compile`` keyword arguments). Defaults to
            False.

    Example:
        >>> import os.path as osp, tempfile, torch
        >>> from mmpretrain.models import VisionTransformer
        >>> from mmtec.models import TECTargetGenerator
        >>> arch = dict(embed_dims=64, num_layers=3, num_heads=4,
        ...             feedforward_channels=128)
        >>> # a tiny base model saved in MMPretrain's layout
        >>> base = VisionTransformer(arch, img_size=32, patch_size=8)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = osp.join(tmp.name, 'base.pth')
        >>> torch.save({'state_dict': {'backbone.' + k: v for k, v in
        ...                            base.state_dict().items()}}, path)
        >>> generator = TECTargetGenerator(path, arch=arch, img_size=32,
        ...                                patch_size=8, topk=5)
        >>> feat, attn, topk_idx = generator(torch.randn(2, 3, 32, 32))
        >>> feat.shape  # 16 patches, base width
        torch.Size([2, 16, 64])
        >>> attn.shape  # class token + 5 patches, 4 heads, 16 keys
        torch.Size([2, 6, 4, 16])
        >>> topk_idx.shape, generator.training
        (torch.Size([2, 5]), False)
        >>> tmp.cleanup()
    """

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 224,
                 patch_size: int = 16,
                 last_layers: int = 2,
                 topk: int = 15,
                 use_attention_target: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 trust_checkpoint: bool = False,
                 weights_dtype: Optional[str] = None,
                 compile: Union[bool, dict] = False):
        # no init_cfg: the weights come from ``checkpoint``
        super().__init__()
        if not checkpoint:
            raise ValueError(
                'model.target_generator.checkpoint is not set: TEC needs the '
                'weights of a pretrained base model. Pass --cfg-options '
                'model.target_generator.checkpoint=X with X a file path, an '
                'http(s) URL (e.g. MAE\'s release, https://dl.fbaipublicfiles'
                '.com/mae/pretrain/mae_pretrain_vit_base.pth) or a model name '
                'of mmpretrain.list_models().')
        self.arch_settings = resolve_arch(arch)
        self.vit = VisionTransformer(
            arch=self.arch_settings,
            img_size=img_size,
            patch_size=patch_size,
            norm_cfg=norm_cfg,
            final_norm=False,
            out_type='raw')
        self.embed_dims = self.arch_settings['embed_dims']
        self.num_heads = self.arch_settings['num_heads']
        num_layers = self.arch_settings['num_layers']
        if not 1 <= last_layers <= num_layers:
            raise ValueError(f'last_layers={last_layers} must be in '
                             f'[1, {num_layers}]')
        num_patches = self.vit.patch_resolution[0] * \
            self.vit.patch_resolution[1]
        if use_attention_target and not 1 <= topk <= num_patches:
            raise ValueError(f'topk={topk} must be in [1, {num_patches}]')
        self.last_layers = last_layers
        self.topk = topk
        self.use_attention_target = use_attention_target
        self.checkpoint = checkpoint
        self.load_base_weights(checkpoint, trust_checkpoint)
        self.requires_grad_(False)
        self.eval()
        self.weights_dtype = self._parse_dtype(weights_dtype)
        if self.weights_dtype is not None:
            self.vit.to(self.weights_dtype)
        self.compile_cfg = compile

    @staticmethod
    def _parse_dtype(name: Optional[str]) -> Optional[torch.dtype]:
        dtypes = dict(bfloat16=torch.bfloat16, float16=torch.float16)
        if name == 'auto':
            why = native_bf16()
            MMLogger.get_current_instance().info(
                'TEC base model: weights_dtype=\'auto\' -> ' +
                (f'bfloat16 (native on {why})' if why else
                 'float32 (no native bf16 on this machine)'))
            return torch.bfloat16 if why else None
        if name is None or name == 'float32':
            return None
        if name not in dtypes:
            raise ValueError(
                f'model.target_generator.weights_dtype={name!r} is not '
                f'supported: use one of {sorted(dtypes)}, \'auto\' or None '
                '(fp32).')
        return dtypes[name]

    def load_base_weights(self, checkpoint: str, trust: bool = False) -> None:
        """Load and check the base model's weights from ``checkpoint``."""
        logger = MMLogger.get_current_instance()
        state, info = read_vit(checkpoint, trust=trust)
        expected = (self.arch_settings['embed_dims'],
                    self.arch_settings['num_layers'],
                    self.arch_settings['feedforward_channels'],
                    self.vit.patch_embed.projection.weight.shape[-1])
        found = (info['embed_dims'], info['num_layers'],
                 info['feedforward_channels'], info['patch_size'])
        if expected != found:
            raise CheckpointLayoutError(
                f'Base checkpoint {checkpoint} ({info["layout"]} layout) is a '
                f'ViT with embed_dims={found[0]}, depth={found[1]}, '
                f'mlp={found[2]}, patch_size={found[3]}, but '
                f'model.target_generator expects embed_dims={expected[0]}, '
                f'depth={expected[1]}, mlp={expected[2]}, '
                f'patch_size={expected[3]}. Set model.target_generator.arch='
                f'{arch_name(found[0], found[1])} and patch_size={found[3]} '
                '(and num_heads via a dict arch if non-standard), or use the '
                'matching checkpoint.')
        state.pop('ln1.weight', None)  # the final norm is not used
        state.pop('ln1.bias', None)
        result = self.vit.load_state_dict(copy.copy(state), strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise CheckpointLayoutError(
                f'Base checkpoint {checkpoint} ({info["layout"]} layout) does '
                f'not match the base ViT: missing keys '
                f'{result.missing_keys}, unexpected keys '
                f'{result.unexpected_keys}. Check model.target_generator.arch '
                'and that the file is a ViT checkpoint.')
        logger.info(
            f'TEC base model: loaded {len(state)} tensors from {checkpoint} '
            f'({info["layout"]} layout'
            f'{", key " + repr(info["container"]) if info["container"] else ""}'
            f'), arch embed_dims={found[0]} depth={found[1]}.')
        self._is_init = True

    def init_weights(self):
        """Keep the loaded weights: the base model is never re-initialised."""

    def train(self, mode: bool = True):
        """The base model always stays in eval mode."""
        return super().train(False)

    def _last_block(self, layer, x: torch.Tensor):
        """Run the last block; also return the target attention logits."""
        B, N, C = x.shape
        attn = layer.attn
        q, k, v = block_qkv(layer, x)  # [B, H, N, d]
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(B, N, C)
        x = x + attn.gamma1(attn.proj(out))
        x = layer.ffn(layer.ln2(x), identity=x)
        if not self.use_attention_target:
            return x, None, None

        scale = attention_scale(layer)
        # rank patches by the head-averaged class-token logits
        cls_logits = (q[:, :, :1] @ k[:, :, 1:].transpose(-2, -1)) * scale
        topk_idx = cls_logits[:, :, 0].mean(dim=1).topk(
            self.topk, dim=-1).indices  # [B, topk]
        rows = torch.gather(
            q[:, :, 1:], 2, topk_idx[:, None, :, None].expand(
                -1, q.shape[1], -1, q.shape[-1]))
        rows = torch.cat([q[:, :, :1], rows], dim=2)  # [B, H, 1+topk, d]
        logits = (rows @ k[:, :, 1:].transpose(-2, -1)) * scale
        return x, logits.permute(0, 2, 1, 3), topk_idx

    def forward(
        self, img: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Compute the targets of a batch of unmasked images.

        Returns:
            tuple: feature target ``[B, L, C]``, attention target
            ``[B, 1+topk, H, L]`` and ``topk_idx`` ``[B, topk]`` (both None
            when ``use_attention_target`` is False).
        """
        # inference_mode: no version counters or view tracking; but
        # torch.compile's guards trip over inference tensors (a dynamo bug
        # with MMPretrain's numpy drop-path rates): compiled runs use no_grad
        grad_off = torch.no_grad() if self.compile_cfg \
            else torch.inference_mode()
        with grad_off:
            if self.weights_dtype is None:
                return self._run(img)
            # low-precision weights: run in their dtype, autocast off, so
            # that no weight is re-cast at every step
            with torch.autocast(img.device.type, enabled=False):
                return self._run(img.to(self.weights_dtype))

    def _run(self, img: torch.Tensor):
        return compiled_method(self, '_targets', self.compile_cfg)(img)

    def _targets(self, img: torch.Tensor):
        vit = self.vit
        x, _ = embed_tokens(vit, img)
        num_layers = len(vit.layers)
        feats = []
        for i, layer in enumerate(vit.layers[:-1]):
            x = layer(x)
            if i >= num_layers - self.last_layers:
                feats.append(x[:, 1:])
        x, attn_target, topk_idx = self._last_block(vit.layers[-1], x)
        feats.append(x[:, 1:])
        feat_target = torch.stack(feats).mean(dim=0)
        return feat_target, attn_target, topk_idx
