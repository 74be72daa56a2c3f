"""Turn a TEC checkpoint into a plain ViT backbone for downstream use.

Reads an mmtec pretraining checkpoint, a TEC released checkpoint, a TEC raw
training checkpoint (or any other ViT layout mmtec recognises), merges the
input adapter into the class token, drops the decoder, the adapters and the
base model, and writes the backbone in the layout asked for:

- ``mmpretrain``: ``{'state_dict': {'backbone.*'}}`` for MMPretrain's
  ``VisionTransformer`` / ``ImageClassifier``;
- ``timm``: a bare timm-style dict (the TEC released layout);
- ``mmdet``: mmtec's ViTDet-style backbone for MMDetection;
- ``mmseg``: MMSegmentation's ``MAE`` backbone (UperNet recipe).

DINOv2 (with or without registers), OpenCLIP and DeiT-III files are read too;
a part a layout has no place for (registers; CLIP's pre-norm or a SwiGLU MLP
in mmdet/mmseg) is refused rather than dropped. The ``meta`` of an
``mmpretrain`` file names the layer scale, pre-norm and SwiGLU to configure.

The file is written with ``torch.save`` (``--format pth``) or as
safetensors (``--format safetensors``, the default for a ``.safetensors``
destination), a format that holds tensors only and cannot run code.

Example:
    python tools/model_converters/tec2vit.py work_dirs/tec/epoch_800.pth \
        checkpoints/tec_vit-b_mmpretrain.safetensors --layout mmpretrain
"""
import argparse
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

from cli_errors import one_line_errors
from mmtec.checkpoint import add_trust_argument, trust_checkpoint
from mmtec.converters import (
    canonical_to_mmdet,
    canonical_to_mmpretrain,
    canonical_to_mmseg,
    canonical_to_timm,
    read_vit,
    save_converted,
)

LAYOUTS = ('mmpretrain', 'timm', 'mmdet', 'mmseg')
# parts of a base (read_vit's info) that a layout's backbone has no place for
NO_PLACE = dict(
    mmpretrain=('num_registers', ),
    mmdet=('num_registers', 'pre_norm', 'swiglu'),
    mmseg=('num_registers', 'pre_norm', 'swiglu'))


def convert(state: dict, info: dict, layout: str) -> dict:
    """Turn a canonical ViT state dict (from ``read_vit``) into ``layout``.
    """
    lost = [k for k in NO_PLACE.get(layout, ()) if info.get(k)]
    if lost:
        raise ValueError(
            f'{info["source"]} has {lost} ({info["layout"]} layout), which '
            f'the {layout} backbone has no place for; use --layout timm.')
    meta = {
        k: v
        for k, v in info.items() if isinstance(v, (str, int, float, bool))
    }
    meta['target_layout'] = layout
    if layout == 'mmpretrain':
        return canonical_to_mmpretrain(state, meta)
    if layout == 'timm':
        return canonical_to_timm(state)
    if layout == 'mmdet':
        return canonical_to_mmdet(state)
    if layout == 'mmseg':
        return canonical_to_mmseg(state)
    raise ValueError(f'Unknown layout {layout!r}; choose from {LAYOUTS}.')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='TEC / mmtec / ViT checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--layout', choices=LAYOUTS, default='mmpretrain',
        help='layout of the output (default: mmpretrain)')
    parser.add_argument(
        '--format', choices=('pth', 'safetensors'), default=None,
        help='file format of dst (default: safetensors for a .safetensors '
        'dst, else pth)')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing dst')
    add_trust_argument(parser)
    parser.add_argument(
        '--debug', action='store_true',
        help='show the traceback of a bad-input error (existing dst, '
        'missing src, ...) instead of one line')
    return parser.parse_args()


def main():
    args = parse_args()
    if osp.abspath(args.src) == osp.abspath(args.dst):
        raise SystemExit('src and dst are the same file; choose another dst.')
    trust_checkpoint(args.trust_checkpoint)
    with one_line_errors(args.debug):
        if osp.exists(args.dst) and not args.overwrite:
            # before reading src: a large checkpoint takes a while
            raise FileExistsError(f'{args.dst} exists; pass --overwrite to '
                                  'replace it.')
        state, info = read_vit(args.src)
        out = convert(state, info, args.layout)
        save_converted(out, args.dst, args.format, args.overwrite)
    print(f'{args.src}: {info["layout"]} layout, ViT embed_dims='
          f'{info["embed_dims"]} depth={info["num_layers"]} patch='
          f'{info["patch_size"]} -> {args.dst} ({args.layout} layout)')


if __name__ == '__main__':
    main()
