"""Training-loop components registered in MMPretrain's registries."""
from .optimizers import *  # noqa: F401,F403
