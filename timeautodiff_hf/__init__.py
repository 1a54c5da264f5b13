"""timeautodiff_hf: TimeAutoDiff (VAE + latent diffusion) for heterogeneous time-series tables, Hub-native."""

from .processing_timeautodiff import TimeAutoDiffProcessor

__version__ = "0.1.0"

__all__ = ["TimeAutoDiffProcessor", "__version__"]
