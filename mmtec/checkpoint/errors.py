"""Errors raised while reading a checkpoint file, one class per failure.

All of them derive from :class:`CheckpointError`, itself a
``RuntimeError`` so that callers catching ``RuntimeError`` keep working.
Every message names the file and says what to do.
"""


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or used.

    Args:
        message (str): What went wrong and what to do about it.
        filename (str, optional): The file concerned.
    """

    def __init__(self, message: str, filename: str = None):
        super().__init__(message)
        # not ``filename``: OSError subclasses would reformat their message
        self.checkpoint_file = filename


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path names no file.

    Also a ``FileNotFoundError``, for callers that catch that.
    """

    def __new__(cls, message: str, filename: str = None):
        return FileNotFoundError.__new__(cls, message)


class CheckpointDownloadError(CheckpointError):
    """A checkpoint URL could not be fetched (no connection, HTTP error)."""


class EmptyCheckpointError(CheckpointError):
    """The checkpoint file has no bytes (an interrupted save or download)."""


class NotACheckpointError(CheckpointError):
    """The file is not a checkpoint: text, an archive of another kind, ..."""


class CorruptCheckpointError(CheckpointError):
    """The file is a checkpoint format but truncated or damaged."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds objects outside the allow-list of the loader.

    Args:
        message (str): See :class:`CheckpointError`.
        filename (str, optional): The file concerned.
        refused (str, optional): The global or construct that was refused.
    """

    def __init__(self, message: str, filename: str = None,
                 refused: str = None):
        super().__init__(message, filename)
        self.refused = refused


class CheckpointLayoutError(CheckpointError, ValueError):
    """A checkpoint is not a ViT in any layout mmtec knows.

    Also a ``ValueError``, as it was before the loader had its own errors.
    """


class BackboneCheckpointError(CheckpointLayoutError):
    """A backbone checkpoint does not fit the backbone it is loaded into.

    Args:
        message (str): What does not fit (missing, unexpected and
            shape-mismatched keys) and how to fix it.
    """
