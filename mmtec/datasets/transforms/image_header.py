"""What an encoded image declares in its header, read without decoding."""
import io
import warnings
from typing import Optional, Sequence, Tuple

from PIL import Image


def declared_header(data: bytes) -> Optional[Tuple[str, Tuple[int, int]]]:
    """``(format, (width, height))`` from the header of an encoded image, or
    ``None`` when PIL does not recognise the format.

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
                return img.format, img.size
        except Image.DecompressionBombError:
            raise
        except Exception:  # unknown or broken header
            return None


def check_max_pixels(owner: str, max_pixels: Optional[int]) -> None:
    """A ``ValueError`` unless ``max_pixels`` is > 0 or ``None``."""
    if max_pixels is not None and not max_pixels > 0:
        raise ValueError(f'{owner}: max_pixels must be > 0 or None (no '
                         f'limit), got {max_pixels!r}')


def header_problem(data: bytes,
                   max_pixels: Optional[int],
                   formats: Optional[Sequence[str]] = None) -> Optional[str]:
    """Why the header rules the image out before decoding, or ``None``.

    Args:
        data (bytes): The encoded file.
        max_pixels (int, optional): Largest width x height; ``None``: no
            limit (PIL's own, twice ``Image.MAX_IMAGE_PIXELS``, still
            applies when ``formats`` is given).
        formats (Sequence[str], optional): PIL format names the decoder
            reads; another or unknown format is a problem. ``None``: any
            format, and an unknown one is left to the decoder.
    """
    if max_pixels is None and formats is None:
        return None
    try:
        header = declared_header(data)
    except Image.DecompressionBombError as err:
        return str(err)
    if header is None:
        return None if formats is None else \
            f'its header is not one of {list(formats)}'
    fmt, (width, height) = header
    if formats is not None and fmt not in formats:
        return f'its header says {fmt}, not one of {list(formats)}'
    if max_pixels is not None and width * height > max_pixels:
        return (f'its header declares {width}x{height} = {width * height} '
                f'pixels, more than max_pixels={max_pixels}')
    return None
