"""Orchestration of the demo and the study: resumable pretraining stages,
cached frozen-feature evaluations, result tables."""
from .fashion_mnist_eval import (demo_config, evaluate_cached,
                                 fashion_mnist_eval_sets)
from .json_records import cached_eval, read_json, write_json
from .markdown import markdown_table
from .pretrain_stage import device_name, pretrain_stage
from .training_flops import train_flops_per_image

__all__ = [
    'pretrain_stage', 'device_name', 'cached_eval', 'read_json',
    'write_json', 'markdown_table', 'demo_config', 'fashion_mnist_eval_sets',
    'evaluate_cached', 'train_flops_per_image'
]
