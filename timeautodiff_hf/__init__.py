"""timeautodiff_hf: TimeAutoDiff (VAE + latent diffusion) for heterogeneous time-series tables, Hub-native."""

from .modeling_denoiser import TimeAutoDiffDenoiser, TimeAutoDiffDenoiserOutput
from .modeling_vae import (
    TimeAutoDiffVAE,
    TimeAutoDiffVAEDecoderOutput,
    TimeAutoDiffVAEEncoderOutput,
    TimeAutoDiffVAEOutput,
)
from .pipeline_timeautodiff import TimeAutoDiffPipeline, TimeAutoDiffPipelineOutput
from .processing_timeautodiff import TimeAutoDiffProcessor
from .sample_data import BIKE_SHARING_SCHEMA, bike_sharing_path, load_bike_sharing, train_bike_sharing_model

__version__ = "0.1.0"

__all__ = [
    "BIKE_SHARING_SCHEMA",
    "TimeAutoDiffDenoiser",
    "TimeAutoDiffDenoiserOutput",
    "TimeAutoDiffPipeline",
    "TimeAutoDiffPipelineOutput",
    "TimeAutoDiffProcessor",
    "TimeAutoDiffVAE",
    "TimeAutoDiffVAEDecoderOutput",
    "TimeAutoDiffVAEEncoderOutput",
    "TimeAutoDiffVAEOutput",
    "__version__",
    "bike_sharing_path",
    "load_bike_sharing",
    "train_bike_sharing_model",
]
