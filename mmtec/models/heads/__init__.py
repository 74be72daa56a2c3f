from .patch_relation_target_head import PatchRelationTargetHead

__all__ = ['PatchRelationTargetHead']
