"""Switch the pretraining data path to JPEG decoding on the GPU."""
import torch
from mmengine.config import Config
from mmengine.logging import print_log


def gpu_jpeg_decode_unavailable() -> str:
    """Why JPEGs cannot be decoded on the GPU here ('' when they can)."""
    if not torch.cuda.is_available():
        return 'no CUDA device is available'
    try:
        import torchvision
        from torchvision.io import decode_jpeg, encode_jpeg
        probe = encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8))
        decode_jpeg([probe], device='cuda')
    except Exception as e:  # any failure means: use the CPU pipeline
        return (f'torchvision {torchvision.__version__} cannot decode JPEGs '
                f'on this GPU ({type(e).__name__}: {e})')
    return ''


def apply_gpu_decode(cfg: Config) -> bool:
    """Apply ``gpu_decode=True`` of a config; return whether it is used.

    The recipe's CPU pipeline (``LoadImageFromFile``, ``RandomResizedCrop``,
    ``RandomFlip``, ``PackInputs``) is replaced by ``PackJPEGBytes`` in the
    workers and ``GPUJPEGDataPreprocessor`` on the device, with the crop
    scale/ratio/size, flip probability and mean/std taken from the config.
    Without a GPU (or GPU decoding in torchvision) the CPU pipeline stays,
    with a message saying so. Sharding across ranks is the sampler's, as
    before.
    """
    if not cfg.get('gpu_decode', False):
        return False
    reason = gpu_jpeg_decode_unavailable()
    if reason:
        print_log(
            f'gpu_decode=True, but {reason}: training with the CPU data '
            'pipeline (train_dataloader.dataset.pipeline) instead.',
            logger='current')
        return False
    loader = cfg.train_dataloader
    pipeline = loader.dataset.pipeline
    types = [t['type'] for t in pipeline]
    crop = next((t for t in pipeline if t['type'] == 'RandomResizedCrop'),
                None)
    if crop is None:
        raise ValueError(
            f'gpu_decode=True needs a RandomResizedCrop in '
            f'train_dataloader.dataset.pipeline (found {types}); set '
            'gpu_decode=False for this pipeline.')
    flip = next((t for t in pipeline if t['type'] == 'RandomFlip'), None)
    pre = dict(cfg.get('data_preprocessor') or {})
    cfg.model.data_preprocessor = dict(
        type='GPUJPEGDataPreprocessor',
        crop_size=crop['scale'],
        scale=tuple(crop.get('crop_ratio_range', (0.08, 1.0))),
        ratio=tuple(crop.get('aspect_ratio_range', (3. / 4., 4. / 3.))),
        flip_prob=flip.get('prob', 0.5) if flip else 0.,
        mean=pre.get('mean', (123.675, 116.28, 103.53)),
        std=pre.get('std', (58.395, 57.12, 57.375)))
    loader.dataset.pipeline = [dict(type='PackJPEGBytes')]
    loader.collate_fn = dict(type='pseudo_collate')
    print_log('gpu_decode=True: JPEGs are decoded and augmented on the GPU '
              '(GPUJPEGDataPreprocessor).', logger='current')
    return True
