"""One error class per way a checkpoint can fail; each message names the
file and says what to do. All are ``RuntimeError``s (callers catching
that keep working)."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or used.

    Args:
        message (str): What went wrong and what to do about it.
        filename (str, optional): The file concerned.
        refused (str, optional): What the loader refused, if anything.
    """

    def __init__(self, message: str, filename: str = None,
                 refused: str = None):
        super().__init__(message)
        # not ``filename``: OSError subclasses would reformat their message
        self.checkpoint_file, self.refused = filename, refused


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The path names no file (also a ``FileNotFoundError``)."""

    def __new__(cls, message: str, filename: str = None):
        return FileNotFoundError.__new__(cls, message)


class CheckpointDownloadError(CheckpointError):
    """A URL could not be fetched (no connection, HTTP error, bounds)."""


class EmptyCheckpointError(CheckpointError):
    """The file has no bytes (an interrupted save or download)."""


class NotACheckpointError(CheckpointError):
    """The file is not a checkpoint: text, an archive of another kind, ..."""


class CorruptCheckpointError(CheckpointError):
    """The file is a checkpoint format but truncated or damaged."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds what the loader does not rebuild (``refused``)."""


class CheckpointLayoutError(CheckpointError, ValueError):
    """A checkpoint is not a ViT in any layout mmtec knows (also a
    ``ValueError``)."""


class BackboneCheckpointError(CheckpointLayoutError):
    """A backbone checkpoint does not fit the backbone it is loaded into."""


class NotPlainDataError(TypeError):
    """A checkpoint entry that cannot be saved as plain data."""
