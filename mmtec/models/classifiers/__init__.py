from .tec_image_classifier import TECImageClassifier

__all__ = ['TECImageClassifier']
