"""The one key mapping: tables of ``(source, canonical)`` names, read
forwards by the layout reader and backwards by the timm and MMSeg writers.
A name ending in ``.`` is a prefix; ``{i}`` is a block index."""
import re
from collections import OrderedDict
from typing import Dict, Sequence, Tuple

# the first matching row wins: layer scale before the generic ``attn.``
TIMM = (
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('blocks.{i}.ls1.gamma', 'layers.{i}.attn.gamma1.weight'),
    ('blocks.{i}.ls2.gamma', 'layers.{i}.ffn.gamma2.weight'),
    ('blocks.{i}.gamma_1', 'layers.{i}.attn.gamma1.weight'),  # DeiT-III
    ('blocks.{i}.gamma_2', 'layers.{i}.ffn.gamma2.weight'),
    ('blocks.{i}.mlp.w12.', 'layers.{i}.ffn.w12.'),  # DINOv2 SwiGLU
    ('blocks.{i}.mlp.w3.', 'layers.{i}.ffn.w3.'),
    ('reg_token', 'register_tokens'),
    ('norm_pre.', 'pre_norm.'),  # CLIP
    ('blocks.{i}.norm1.', 'layers.{i}.ln1.'),
    ('blocks.{i}.norm2.', 'layers.{i}.ln2.'),
    ('blocks.{i}.attn.', 'layers.{i}.attn.'),
    ('blocks.{i}.mlp.fc1.', 'layers.{i}.ffn.layers.0.0.'),
    ('blocks.{i}.mlp.fc2.', 'layers.{i}.ffn.layers.1.'),
    ('norm.', 'ln1.'),
    # TEC's input adapter (timm ``Mlp``) -> mmtec's (an MMCV ``FFN``)
    ('cls_token_mlp.fc1.', 'input_adapter.layers.0.0.'),
    ('cls_token_mlp.fc2.', 'input_adapter.layers.1.'),
)

# OpenCLIP's (and OpenAI CLIP's) image tower, below ``visual.``
OPENCLIP = (
    ('conv1.', 'patch_embed.projection.'),
    ('ln_pre.', 'pre_norm.'),
    ('ln_post.', 'ln1.'),
) + tuple(('transformer.resblocks.{i}.' + a, 'layers.{i}.' + b) for a, b in (
    ('ln_1.', 'ln1.'), ('ln_2.', 'ln2.'),
    ('attn.in_proj_weight', 'attn.qkv.weight'),
    ('attn.in_proj_bias', 'attn.qkv.bias'),
    ('attn.out_proj.', 'attn.proj.'),
    ('ls_1.gamma', 'attn.gamma1.weight'), ('ls_2.gamma', 'ffn.gamma2.weight'),
    ('mlp.c_fc.', 'ffn.layers.0.0.'), ('mlp.c_proj.', 'ffn.layers.1.')))

# MMSegmentation's ``MAE`` (BEiT) layer scale is MMPretrain's, renamed
MMSEG = (
    ('layers.{i}.gamma_1', 'layers.{i}.attn.gamma1.weight'),
    ('layers.{i}.gamma_2', 'layers.{i}.ffn.gamma2.weight'),
)


def rename_keys(state_dict: Dict, table: Sequence[Tuple[str, str]],
                to_source: bool = False) -> Dict:
    """Rename the keys of ``state_dict`` by ``table``; others are kept.

    Args:
        state_dict (dict): Weights to rename.
        table (Sequence[tuple]): ``(source, canonical)`` name pairs.
        to_source (bool): Canonical -> source names instead of source ->
            canonical. Defaults to False.
    """
    rules = []
    for pair in table:
        src, dst = pair[::-1] if to_source else pair
        pattern = '^' + re.escape(src).replace(r'\{i\}', r'(\d+)')
        rules.append((re.compile(pattern + ('' if src.endswith('.') else '$')),
                      dst.replace('{i}', r'\1')))
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        for pattern, repl in rules:
            new_key, n = pattern.subn(repl, key)
            if n:
                break
        out[new_key] = value
    return out


def timm_to_mmpretrain(state_dict: Dict) -> Dict:
    """Rename timm ViT keys to MMPretrain's; other keys are kept."""
    return rename_keys(state_dict, TIMM)


def mmpretrain_to_timm(state_dict: Dict) -> Dict:
    """Rename MMPretrain ViT keys to timm's; other keys are kept."""
    return rename_keys(state_dict, TIMM, to_source=True)
