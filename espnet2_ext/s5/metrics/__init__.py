"""Evaluation metrics of DCASE2026 Task 4 (and the 2025 CA-SDRi for comparison).

* :func:`capi_sdri` / :func:`capi_sdri_details` -- CAPI-SDRi per mixture (official leaderboard metric)
* :func:`label_counts` / :func:`label_accuracies` -- mixture- and source-level label accuracy
* :func:`ca_sdri` -- the 2025 class-aware SDRi
* :func:`snr` / :func:`pairwise_snr` -- the SNR ("SDR") all of them use
* :mod:`~espnet2_ext.s5.metrics.bootstrap` -- 95 % bootstrap intervals of the means and paired differences
"""
from espnet2_ext.s5.metrics.ca_sdri import ca_sdri
from espnet2_ext.s5.metrics.capi_sdri import (
    CapiSample,
    best_assignment,
    capi_sdri,
    capi_sdri_batch,
    capi_sdri_details,
    mean_ignoring_none,
)
from espnet2_ext.s5.metrics.label_accuracy import (
    confusion_matrix,
    confusion_pairs,
    label_accuracies,
    label_counts,
)
from espnet2_ext.s5.metrics.snr import pairwise_snr, snr

__all__ = [
    "CapiSample", "best_assignment", "ca_sdri", "capi_sdri", "capi_sdri_batch",
    "capi_sdri_details", "confusion_matrix", "confusion_pairs", "label_accuracies",
    "label_counts", "mean_ignoring_none", "pairwise_snr", "snr",
]
