"""kNN and linear-probe evaluation of a checkpoint on MMPretrain datasets."""
import copy
import time
from typing import Optional, Tuple, Union

from mmengine.config import Config

from .classifiers import KNN_K, KNN_TEMPERATURE, knn_accuracy, linear_probe
from .features import Normalize, extract_features, load_frozen_vit


def build_eval_datasets(
        cfg: Union[Config, dict]) -> Tuple[object, object, Normalize]:
    """The labelled bank, the queries and the normalisation of a config.

    The bank is ``train_dataloader.dataset`` with the *test* pipeline (no
    random augmentation), the queries ``test_dataloader.dataset`` (or
    ``val_dataloader.dataset``), the normalisation ``data_preprocessor``'s.

    Args:
        cfg (Config | dict): The evaluation config.
    """
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    from mmpretrain.registry import DATASETS

    # the config's own modules register its dataset classes
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    query_cfg = copy.deepcopy(
        (cfg.get('test_dataloader') or cfg.get('val_dataloader'))['dataset'])
    bank_cfg = copy.deepcopy(cfg['train_dataloader']['dataset'])
    bank_cfg['pipeline'] = copy.deepcopy(query_cfg['pipeline'])
    bank_cfg.pop('test_mode', None)
    prep = cfg.get('data_preprocessor') or {}
    normalize = Normalize(
        prep.get('mean', [123.675, 116.28, 103.53]),
        prep.get('std', [58.395, 57.12, 57.375]), prep.get('to_rgb', False))
    return DATASETS.build(bank_cfg), DATASETS.build(query_cfg), normalize


def evaluate_checkpoint(checkpoint: Union[str, dict, None], bank_dataset,
                        query_dataset, normalize: Normalize,
                        feature: str = 'mean', k: int = KNN_K,
                        temperature: float = KNN_TEMPERATURE,
                        linear: bool = True, num_heads: Optional[int] = None,
                        img_size: Optional[int] = None,
                        quick_gelu: bool = False, batch_size: int = 256,
                        device: str = 'cpu', progress: bool = True,
                        name: str = '') -> dict:
    """kNN (and linear-probe) accuracy of a checkpoint's frozen features.

    Args:
        checkpoint (str | dict | None): Any layout
            :func:`mmtec.converters.read_vit` reads, or None for the
            raw-pixel baseline (normalised pixels as features).
        bank_dataset, query_dataset: Datasets with labels whose pipeline
            ends in ``PackInputs``.
        normalize (Normalize): Image normalisation.
        feature (str): ``'cls'``, ``'mean'`` or ``'cls+mean'``.
        k (int): kNN neighbours. Defaults to ``KNN_K``.
        temperature (float): kNN vote temperature. Defaults to
            ``KNN_TEMPERATURE``.
        linear (bool): Also fit and test a linear probe. Defaults to True.
        num_heads (int, optional): Heads of the ViT (not in the weights).
        img_size (int, optional): Evaluation input size.
        quick_gelu (bool): QuickGELU MLPs (OpenAI's CLIP files).
        batch_size (int): Extraction batch size. Defaults to 256.
        device (str): Where extraction, kNN and probe run. Defaults to
            'cpu'.
        progress (bool): Progress bars with ETA. Defaults to True.
        name (str): Label for the progress output.
    """
    t0 = time.time()
    if checkpoint is None:
        info = dict(layout='pixels')

        def fn(img):
            return img.flatten(1)
    else:
        model = load_frozen_vit(checkpoint, num_heads, img_size,
                                quick_gelu).to(device)
        info = {k_: v for k_, v in model.info.items() if k_ != 'source'}

        def fn(img):
            return model(img, feature)

    bank, query = (extract_features(
        fn, dataset, normalize, batch_size=batch_size, device=device,
        progress=progress, desc=f'[{name or "eval"}] features of the {split}'
        f' set ({len(dataset)} images)')
        for split, dataset in (('bank', bank_dataset), ('test', query_dataset))
    )
    extract_s = time.time() - t0
    bank = {key: v.to(device) for key, v in bank.items()}
    query = {key: v.to(device) for key, v in query.items()}
    out = dict(bank_size=len(bank['labels']), test_size=len(query['labels']),
               feature_dims=bank['feats'].shape[1])
    knn = knn_accuracy(bank['feats'], bank['labels'], query['feats'],
                       query['labels'], k, temperature)
    out.update({f'knn_{key}': value for key, value in knn.items()})
    if linear:
        t1 = time.time()
        lin = linear_probe(bank['feats'], bank['labels'], query['feats'],
                           query['labels'])
        out.update({f'linear_{key}': value for key, value in lin.items()})
        out['linear_fit_s'] = time.time() - t1
    return dict(out, feature=feature if checkpoint is not None else 'pixels',
                k=k, temperature=temperature, extract_s=extract_s,
                eval_s=time.time() - t0, checkpoint_info=info)
