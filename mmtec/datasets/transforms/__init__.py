from .load_image_or_skip import LoadImageOrSkip, PackJPEGBytes  # noqa: F401
