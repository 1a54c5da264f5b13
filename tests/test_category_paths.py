"""Decoding binary/categorical columns as the most likely path through time (`timeautodiff_hf.category_paths`)."""

import numpy as np
import torch

from timeautodiff_hf.category_paths import log_chain, most_likely_paths, transition_counts
from timeautodiff_hf.processing_timeautodiff import reindex_transition_counts


def sticky_chain(size: int = 3, stay: int = 1000, move: int = 1):
    counts = np.full((size, size), move)
    np.fill_diagonal(counts, stay)
    return log_chain(counts.tolist())


def test_a_sticky_column_is_not_flipped_by_ambiguous_steps_but_follows_clear_evidence():
    torch.manual_seed(0)
    # Category 0 is slightly more likely at every step, yet step by step a noisy decoder flips between 0 and 1.
    posteriors = torch.tensor([0.5, 0.45, 0.05]).repeat(200, 24, 1) + 0.08 * torch.randn(200, 24, 3).abs()
    log_posteriors = (posteriors / posteriors.sum(-1, keepdim=True)).log()
    assert (log_posteriors.argmax(-1).diff(dim=1) != 0).float().sum(1).mean() > 3
    paths = most_likely_paths(log_posteriors, *sticky_chain())
    assert (paths.diff(dim=1) != 0).sum() == 0
    # A clear change half way (category 2 at probability 0.98) is kept.
    clear = log_posteriors.clone()
    clear[:, 12:] = torch.tensor([0.01, 0.01, 0.98]).log()
    paths = most_likely_paths(clear, *sticky_chain())
    assert (paths[:, 12:] == 2).all() and (paths[:, :12] != 2).all()


def test_paths_pass_through_given_cells_and_follow_a_cyclic_column():
    size = 4
    cycle = np.eye(size, k=1, dtype=int) * 500
    cycle[-1, 0] = 500  # 0 -> 1 -> 2 -> 3 -> 0, like an hour-of-day column
    log_transitions, log_frequencies = log_chain(cycle.tolist())
    flat = torch.full((5, 8, size), 1.0 / size).log()
    fixed = torch.full((5, 8), -1)
    fixed[:, 3] = torch.tensor([0, 1, 2, 3, 0])
    paths = most_likely_paths(flat, log_transitions, log_frequencies, fixed)
    expected = (fixed[:, 3:4] + torch.arange(8) - 3) % size
    assert torch.equal(paths, expected)


def test_transition_counts_use_consecutive_observed_steps_of_a_segment_only():
    codes = np.array([0, 0, 1, 1, 0, 1])
    observed = np.array([1, 1, 1, 0, 1, 1])
    # segment 1: rows 0, 1, absent step, 2, 3; segment 2: rows 4, 5
    counts = transition_counts(codes, observed, [np.array([0, 1, -1, 2, 3]), np.array([4, 5])], size=2)
    assert counts == [[1, 1], [0, 0]]  # 0->0 (rows 0-1) and 0->1 (rows 4-5); row 3 is unobserved


def test_counts_of_a_training_period_vocabulary_are_reindexed_for_the_whole_tables_vocabulary():
    # "b" appeared only in the held-out end: it sorts between the training period's categories.
    widened = reindex_transition_counts([[1, 2], [3, 4]], ["a", "c"], ["a", "b", "c"])
    assert widened == [[1, 0, 2], [0, 0, 0], [3, 0, 4]]
