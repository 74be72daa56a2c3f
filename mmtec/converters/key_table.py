"""The tables between timm's (and OpenCLIP's) ViT names and MMPretrain's.

Read in one direction by the layout reader (timm, MAE, iBOT, DINOv2, DeiT-III,
TEC and OpenCLIP files -> canonical) and in the other by the converter that
writes timm files.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

# (timm, MMPretrain); ``{i}`` is a block index. Layer scale comes before
# the generic ``attn.`` rule so that it wins in both directions.
TIMM_TO_MMPRETRAIN = (
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
)

# OpenCLIP's (and OpenAI CLIP's) image tower, below ``visual.``
OPENCLIP_TO_MMPRETRAIN = (
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


def _rule(src: str, dst: str) -> Tuple[str, str]:
    # a name ending in '.' is a prefix, anything else a whole key
    pattern = '^' + re.escape(src).replace(r'\{i\}', r'(\d+)')
    pattern += '' if src.endswith('.') else '$'
    return pattern, dst.replace('{i}', r'\1')


_FORWARD: List[Tuple[str, str]] = [_rule(a, b) for a, b in TIMM_TO_MMPRETRAIN]
_BACKWARD: List[Tuple[str, str]] = [_rule(b, a) for a, b in TIMM_TO_MMPRETRAIN]
_OPENCLIP: List[Tuple[str, str]] = [_rule(a, b)
                                    for a, b in OPENCLIP_TO_MMPRETRAIN]


def _rename(state_dict: Dict, rules: List[Tuple[str, str]]) -> Dict:
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        for pattern, repl in rules:
            new_key, n = re.subn(pattern, repl, key)
            if n:
                break
        out[new_key] = value
    return out


def timm_to_mmpretrain(state_dict: Dict) -> Dict:
    """Rename timm ViT keys to MMPretrain's; other keys are kept."""
    return _rename(state_dict, _FORWARD)


def mmpretrain_to_timm(state_dict: Dict) -> Dict:
    """Rename MMPretrain ViT keys to timm's; other keys are kept."""
    return _rename(state_dict, _BACKWARD)


def openclip_to_mmpretrain(state_dict: Dict) -> Dict:
    """Rename OpenCLIP image-tower keys (``visual.`` stripped) to
    MMPretrain's; other keys are kept."""
    return _rename(state_dict, _OPENCLIP)
