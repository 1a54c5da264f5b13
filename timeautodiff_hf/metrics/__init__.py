"""Evaluation metrics for synthetic time-series windows: fidelity, usefulness, privacy, imputation and forecasts."""

from .discriminative import discriminative_score, temporal_discriminative_score
from .errors import crps_from_samples, imputation_errors, masked_mae, masked_mse
from .plots import plot_autocorrelation, plot_embedding, plot_forecast, plot_marginals, plot_sequences
from .predictive import predictive_score
from .privacy import distance_to_closest_record
from .report import evaluate_generation, save_report
from .statistics import autocorrelation_error, correlation_distance, marginal_distances, missing_rate_error

__all__ = [
    "autocorrelation_error",
    "correlation_distance",
    "crps_from_samples",
    "discriminative_score",
    "distance_to_closest_record",
    "evaluate_generation",
    "imputation_errors",
    "marginal_distances",
    "masked_mae",
    "masked_mse",
    "missing_rate_error",
    "plot_autocorrelation",
    "plot_embedding",
    "plot_forecast",
    "plot_marginals",
    "plot_sequences",
    "predictive_score",
    "save_report",
    "temporal_discriminative_score",
]
