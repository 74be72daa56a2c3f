"""The Fashion-MNIST lab: resumable pretraining stages, cached frozen-feature
evaluations and result tables of the demo and the studies, and the
Fashion-MNIST dataset they read (importing the package registers
``LocalFashionMNIST``; the project's configs name it in ``custom_imports``)."""
from .backbone_export import export_backbone
from .data_arguments import add_data_arguments, fill_data_arguments
from .fashion_mnist_dataset import LocalFashionMNIST
from .fashion_mnist_eval import (
                                 evaluate_cached,
                                 fashion_mnist_eval_sets,
                                 project_config,
)
from .fashion_mnist_files import (
                                 CLASSES,
                                 export_image_folder,
                                 find_fashion_mnist,
                                 load_fashion_mnist,
                                 read_idx,
                                 unpack_fashion_mnist,
)
from .finetune_stage import finetune_top1
from .json_records import cached_eval, read_json, write_json
from .markdown import markdown_table, write_report
from .pretrain_stage import TimeLimitReached, device_name, pretrain_stage
from .training_flops import train_flops_per_image

__all__ = [
    'pretrain_stage', 'device_name', 'cached_eval', 'read_json',
    'write_json', 'markdown_table', 'write_report', 'project_config',
    'fashion_mnist_eval_sets', 'evaluate_cached', 'train_flops_per_image',
    'finetune_top1', 'export_backbone', 'TimeLimitReached',
    'add_data_arguments', 'fill_data_arguments', 'LocalFashionMNIST',
    'CLASSES', 'export_image_folder', 'find_fashion_mnist',
    'load_fashion_mnist', 'read_idx', 'unpack_fashion_mnist'
]
