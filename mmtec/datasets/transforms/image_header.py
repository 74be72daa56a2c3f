"""The pixel count an encoded image declares, read from its header only."""
import io
import warnings
from typing import Optional, Tuple

from PIL import Image


def declared_size(data: bytes) -> Optional[Tuple[int, int]]:
    """``(width, height)`` from the header of an encoded image, or ``None``
    when PIL does not recognise the format (the decoder then decides).

    ``Image.open`` parses the header and stops: nothing is decoded, so this
    costs microseconds whatever size the file claims.

    Args:
        data (bytes): The encoded file.

    Raises:
        PIL.Image.DecompressionBombError: The header declares more than
            twice ``PIL.Image.MAX_IMAGE_PIXELS``; PIL refuses to even open
            such a file.
    """
    with warnings.catch_warnings():
        # PIL warns above MAX_IMAGE_PIXELS; the caller applies its own limit
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                return img.size
        except Image.DecompressionBombError:
            raise
        except Exception:  # unknown or broken header: the decoder decides
            return None
