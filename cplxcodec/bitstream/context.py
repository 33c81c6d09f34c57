"""Context buckets: cluster previous-stage codes by the distribution of the next stage.

In a residual VQ the code of stage ``k`` is statistically tied to the code of stage ``k-1``
(the residual it quantises depends on what the previous stage left behind). A full
conditional table ``p(b | a)`` has ``V**2`` entries per stage, 4 M for ``V = 2048``: too big to
ship and far too many to estimate from a realistic corpus. Instead every previous code ``a``
is mapped to one of ``M`` buckets ``g(a)`` and stage ``k`` is coded with ``p(b | g(a))``.

The map is chosen to keep as much of the mutual information ``I(A; B)`` as possible, which is
the same as minimising the code length of the training codes,

    L(g) = - sum_{a,b} n(a, b) log2 q_{g(a)}(b),    q_m(b) ∝ sum_{a: g(a)=m} n(a, b),

where ``n(a, b)`` counts the pairs (previous, current). This is divisive information-theoretic
clustering of the rows of the joint count matrix (Dhillon, Mallela & Kumar, "A divisive
information-theoretic feature clustering algorithm for text classification", JMLR 3, 2003):
a Lloyd iteration that alternates (1) bucket distributions = pooled counts of their members
and (2) each row joins the bucket with the lowest cross-entropy ``-sum_b n(a,b) log2 q_m(b)``.
Each step cannot increase ``L`` (up to the small smoothing below), so it converges in a few
iterations. Codes never seen as a previous code join the bucket with the most mass.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["cluster_contexts", "joint_counts"]


def joint_counts(prev: np.ndarray, cur: np.ndarray, size: int) -> sp.csr_matrix:
    """Sparse ``(V, V)`` matrix of pair counts ``n(a, b)`` for previous code a, current b."""
    prev = np.asarray(prev, dtype=np.int64).ravel()
    cur = np.asarray(cur, dtype=np.int64).ravel()
    ones = np.ones(prev.shape[0], dtype=np.float64)
    mat = sp.coo_matrix((ones, (prev, cur)), shape=(size, size)).tocsr()
    mat.sum_duplicates()
    return mat


def cluster_contexts(
    prev: np.ndarray,
    cur: np.ndarray,
    size: int,
    n_buckets: int,
    *,
    max_iter: int = 25,
) -> np.ndarray:
    """Learn a map from previous-stage code to one of at most ``n_buckets`` context buckets.

    Args:
        prev: previous-stage codes, any shape, values in ``[0, size)``.
        cur: current-stage codes aligned with ``prev``.
        size: codebook size ``V``.
        n_buckets: ``M``, the largest number of buckets returned (``>= 1``).
        max_iter: Lloyd iterations at most.

    Returns:
        ``(V,)`` int64 map with values in ``[0, M')``, ``M' <= M`` (empty buckets are dropped);
        bucket 0 has the most training mass and receives every unseen previous code.
        Deterministic: ties go to the lower index.
    """
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    joint = joint_counts(prev, cur, size)
    row_mass = np.asarray(joint.sum(axis=1)).ravel()
    marginal = np.asarray(joint.sum(axis=0)).ravel()
    total = float(marginal.sum())
    if total == 0.0:
        return np.zeros(size, dtype=np.int64)
    prior = (marginal + 0.5) / (total + 0.5 * size)  # smoothing target, never zero

    # Seeds: the M most frequent previous codes, each its own bucket.
    seen = np.flatnonzero(row_mass > 0)
    order = seen[np.argsort(-row_mass[seen], kind="stable")]
    n_seed = min(n_buckets, order.shape[0])
    assign = np.full(size, -1, dtype=np.int64)
    assign[order[:n_seed]] = np.arange(n_seed)
    centroids = _bucket_log_probs(joint, assign, n_seed, prior)
    assign = _assign(joint, centroids, row_mass)
    for _ in range(max_iter):
        centroids = _bucket_log_probs(joint, assign, n_seed, prior)
        new = _assign(joint, centroids, row_mass)
        if np.array_equal(new, assign):
            break
        assign = new
    return _relabel(assign, row_mass)


def _bucket_log_probs(
    joint: sp.csr_matrix, assign: np.ndarray, n_buckets: int, prior: np.ndarray
) -> np.ndarray:
    """``(M, V)`` log2 of the smoothed pooled distribution of each bucket."""
    members = np.flatnonzero(assign >= 0)
    indicator = sp.csr_matrix(
        (np.ones(members.shape[0]), (assign[members], members)),
        shape=(n_buckets, joint.shape[0]),
    )
    pooled = np.asarray((indicator @ joint).todense())
    mass = pooled.sum(axis=1, keepdims=True)
    # Dirichlet smoothing towards the stage marginal with one pseudo-observation.
    probs = (pooled + prior[None, :]) / (mass + 1.0)
    return np.log2(probs)


def _assign(joint: sp.csr_matrix, log_probs: np.ndarray, row_mass: np.ndarray) -> np.ndarray:
    """Each seen row to the bucket of lowest cross-entropy; unseen rows to the heaviest."""
    cost = -(joint @ log_probs.T)  # (V, M) code length of each row's pairs under each bucket
    assign = np.argmin(cost, axis=1).astype(np.int64)
    bucket_mass = np.bincount(
        assign[row_mass > 0], weights=row_mass[row_mass > 0], minlength=log_probs.shape[0]
    )
    assign[row_mass == 0] = int(np.argmax(bucket_mass))
    return assign


def _relabel(assign: np.ndarray, row_mass: np.ndarray) -> np.ndarray:
    """Renumber buckets by decreasing mass (ties by old id), dropping empty ones."""
    n_old = int(assign.max()) + 1
    mass = np.bincount(assign, weights=row_mass, minlength=n_old)
    used = np.flatnonzero(np.bincount(assign, minlength=n_old) > 0)
    ranked = used[np.argsort(-mass[used], kind="stable")]
    new_id = np.full(n_old, -1, dtype=np.int64)
    new_id[ranked] = np.arange(ranked.shape[0])
    return new_id[assign]
