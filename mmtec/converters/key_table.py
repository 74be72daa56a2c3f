"""The one table between timm ViT names and MMPretrain ViT names.

Read in one direction by the layout reader (timm, MAE, iBOT, TEC files ->
canonical) and in the other by the converter that writes timm files.
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
    ('blocks.{i}.norm1.', 'layers.{i}.ln1.'),
    ('blocks.{i}.norm2.', 'layers.{i}.ln2.'),
    ('blocks.{i}.attn.', 'layers.{i}.attn.'),
    ('blocks.{i}.mlp.fc1.', 'layers.{i}.ffn.layers.0.0.'),
    ('blocks.{i}.mlp.fc2.', 'layers.{i}.ffn.layers.1.'),
    ('norm.', 'ln1.'),
)


def _rule(src: str, dst: str) -> Tuple[str, str]:
    # a name ending in '.' is a prefix, anything else a whole key
    pattern = '^' + re.escape(src).replace(r'\{i\}', r'(\d+)')
    pattern += '' if src.endswith('.') else '$'
    return pattern, dst.replace('{i}', r'\1')


_FORWARD: List[Tuple[str, str]] = [_rule(a, b) for a, b in TIMM_TO_MMPRETRAIN]
_BACKWARD: List[Tuple[str, str]] = [_rule(b, a) for a, b in TIMM_TO_MMPRETRAIN]


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
