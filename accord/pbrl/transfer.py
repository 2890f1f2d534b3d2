"""Cross-task preference alignment (CPA) of PEARL (Liu et al., ICML 2024, arXiv 2306.03615, Sec. 4.1).

Source segments carry scripted preference labels; target segments carry none. Each domain gets an
intra-domain cost matrix (Euclidean distance between flattened state-action segments, scaled to max 1),
Gromov-Wasserstein optimal transport between the two metric spaces (POT's `ot.gromov`, exact or entropic)
gives a coupling T [n_source, n_target], and a target pair (i, j) receives the source labels of the pairs
its segments correspond to:

    y_t(i, j) = sum_{k,l} w_ij(k, l) y_s(k, l),    w_ij(k, l) = T[k, i] T[l, j] M(k, l) / sum_{k,l} T[k, i] T[l, j] M(k, l)

M marks the labelled source pairs. The paper writes the weight as the raw product T[k, i] T[l, j]; with
uniform marginals each column of T sums to 1/n_target, so the raw sum shrinks every label towards 0 by
1/n_target^2. We normalise so the weights of each target pair sum to 1 (the label stays a probability);
this is the only reading under which the transferred labels are usable as Bradley-Terry targets.

    coupling = gromov_coupling(source_features, target_features, method="exact")
    labels = transfer_labels(coupling, source_label_matrix, target_pairs)
"""

from __future__ import annotations

import numpy as np
import ot
from scipy.spatial.distance import cdist


def segment_features(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """One row per segment: its states and actions flattened, [N, H * (obs_dim + act_dim)]."""
    return np.concatenate([observations, actions], axis=-1).reshape(len(observations), -1).astype(np.float64)


def cost_matrix(features: np.ndarray) -> np.ndarray:
    """Intra-domain cost: pairwise Euclidean distances, divided by the largest one."""
    distances = cdist(features, features)
    return distances / max(distances.max(), 1e-12)


def gromov_coupling(source_features: np.ndarray, target_features: np.ndarray, method: str = "exact",
                    epsilon: float = 5e-3, max_iter: int = 1000) -> np.ndarray:
    """Gromov-Wasserstein coupling [n_source, n_target] with uniform marginals (square loss).

    method "exact": POT's conditional-gradient solver; "entropic": projected gradient with entropic
    regularisation `epsilon` (on costs scaled to max 1). Both start from the product coupling; both find local
    optima only (GW is not convex): with few segments per domain the alignment can fail (benchmarks/pbrl.py)."""
    source_cost, target_cost = cost_matrix(source_features), cost_matrix(target_features)
    p = ot.unif(len(source_features))
    q = ot.unif(len(target_features))
    if method == "exact":
        coupling = ot.gromov.gromov_wasserstein(source_cost, target_cost, p, q, loss_fun="square_loss",
                                                max_iter=max_iter)
    elif method == "entropic":
        coupling = ot.gromov.entropic_gromov_wasserstein(source_cost, target_cost, p, q, loss_fun="square_loss",
                                                         epsilon=epsilon, max_iter=max_iter)
    else:
        raise ValueError(f"unknown GW method {method!r} (exact or entropic)")
    return np.asarray(coupling)


def label_matrix(labels: np.ndarray, pairs: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(Y, M) [count, count]: Y[k, l] = P(k preferred to l) for every labelled pair (and 1 - y on the
    swapped pair), M the mask of labelled entries."""
    values = np.zeros((count, count))
    mask = np.zeros((count, count))
    values[pairs[:, 0], pairs[:, 1]] = labels
    values[pairs[:, 1], pairs[:, 0]] = 1.0 - labels
    mask[pairs[:, 0], pairs[:, 1]] = 1.0
    mask[pairs[:, 1], pairs[:, 0]] = 1.0
    return values, mask


def transfer_labels(coupling: np.ndarray, source_values: np.ndarray, source_mask: np.ndarray,
                    target_pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels [P], weight mass [P]) for the target pairs: the normalised correspondence-weighted average of
    the labelled source pairs. A target pair whose correspondents share no labelled source pair (mass 0)
    gets 0.5, no preference."""
    first = coupling[:, target_pairs[:, 0]]   # [n_source, P]: T[k, i]
    second = coupling[:, target_pairs[:, 1]]  # [n_source, P]: T[l, j]
    numerator = np.einsum("kp,kl,lp->p", first, source_values * source_mask, second)
    mass = np.einsum("kp,kl,lp->p", first, source_mask, second)
    labels = np.where(mass > 0, numerator / np.where(mass > 0, mass, 1.0), 0.5)
    return np.clip(labels, 0.0, 1.0), mass


def label_accuracy(transferred: np.ndarray, true_labels: np.ndarray) -> float:
    """Share of target pairs with a strict true preference where the transferred label (> 0.5 or < 0.5)
    names the same segment; an undecided transferred label (exactly 0.5) counts as wrong."""
    decided = true_labels != 0.5
    if not decided.any():
        return float("nan")
    agree = np.where(true_labels == 1.0, transferred > 0.5, transferred < 0.5)
    return float(agree[decided].mean())
