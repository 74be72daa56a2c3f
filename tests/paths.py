"""Where the tests find the repository and the files they share."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the ImageNet recipe with a 3-block ViT of width 64 on 32 px images
TINY_CFG = osp.join(ROOT, 'tests', 'data', 'tec_vit-tiny_test.py')
