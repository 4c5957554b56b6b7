"""Numba-compiled hot loops: hybrid-row filling, interventional Tree SHAP, single-index control.

Tree SHAP:
For one sample x, one baseline row b and one tree, the hybrid f(x_S, b_rest) reaches a leaf L iff
S contains the features where the path to L follows x against b (set X_L, size a) and none of the
features where it follows b against x (set B_L, size c). The Shapley value of that indicator game
is (a-1)! c! / (a+c)! for members of X_L and -a! (c-1)! / (a+c)! for members of B_L, so one depth-
first walk per (x, b, tree), branching only where x and b part ways, gives exact values.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

MISSING_AS_ZERO, ZERO_IS_MISSING = 1, 2

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def path_coefficients(max_depth: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Tables coef_x[a, c] = (a-1)! c! / (a+c)! and coef_b[a, c] = a! (c-1)! / (a+c)!."""
    size = max_depth + 2
    coef_x, coef_b = np.zeros((size, size)), np.zeros((size, size))
    for a in range(size):
        for c in range(size):
            if a + c == 0:
                continue
            if a >= 1:
                coef_x[a, c] = math.factorial(a - 1) * math.factorial(c) / math.factorial(a + c)
            if c >= 1:
                coef_b[a, c] = math.factorial(a) * math.factorial(c - 1) / math.factorial(a + c)
    return coef_x, coef_b


@numba.njit(cache=True, inline="always")
def _goes_left(
    value: float, node: int, threshold: Floats, default_left: Bools, strict: Bools, missing: Ints
) -> bool:
    if math.isnan(value):
        if missing[node] == MISSING_AS_ZERO:
            value = 0.0
        else:
            return bool(default_left[node])
    elif missing[node] == ZERO_IS_MISSING and value == 0.0:
        return bool(default_left[node])
    if strict[node]:
        return bool(value < threshold[node])
    return bool(value <= threshold[node])


@numba.njit(cache=True, parallel=True)
def ensemble_predict(
    rows: Floats,
    left: Ints,
    right: Ints,
    feature: Ints,
    threshold: Floats,
    default_left: Bools,
    strict: Bools,
    missing: Ints,
    leaf_values: Floats,
    roots: Ints,
) -> Floats:
    """Sum of the trees' leaf values (n, k) for each row, without any offset."""
    n_rows, n_outputs = rows.shape[0], leaf_values.shape[1]
    result = np.zeros((n_rows, n_outputs))
    for row in numba.prange(n_rows):
        for tree in range(roots.shape[0]):
            node = roots[tree]
            while left[node] != -1:
                value = rows[row, feature[node]]
                if _goes_left(value, node, threshold, default_left, strict, missing):
                    node = left[node]
                else:
                    node = right[node]
            for output in range(n_outputs):
                result[row, output] += leaf_values[node, output]
    return result


@numba.njit(cache=True, parallel=True)
def interventional_values(
    samples: Floats,
    background: Floats,
    background_start: Ints,
    background_rows: Ints,
    background_weights: Floats,
    left: Ints,
    right: Ints,
    feature: Ints,
    threshold: Floats,
    default_left: Bools,
    strict: Bools,
    missing: Ints,
    leaf_values: Floats,
    roots: Ints,
    max_depth: int,
    coef_x: Floats,
    coef_b: Floats,
) -> Floats:
    """SHAP values (n, k, d) of the trees' summed output against a weighted background.

    For tree t, the background rows to visit are background_rows[background_start[t]:
    background_start[t + 1]] with weights background_weights[...] (rows that take the same
    direction at every node of t are merged into one, their weights summed).
    """
    n_samples, n_features = samples.shape
    n_outputs = leaf_values.shape[1]
    result = np.zeros((n_samples, n_outputs, n_features))
    stack_size = 2 * max_depth + 4
    for sample in numba.prange(n_samples):
        x = samples[sample]
        phi = np.zeros((n_features, n_outputs))
        side_of = np.zeros(n_features, dtype=np.int8)
        path_feature = np.empty(max_depth + 1, dtype=np.int64)
        path_side = np.empty(max_depth + 1, dtype=np.int8)
        stack_node = np.empty(stack_size, dtype=np.int64)
        stack_length = np.empty(stack_size, dtype=np.int64)
        stack_feature = np.empty(stack_size, dtype=np.int64)
        stack_side = np.empty(stack_size, dtype=np.int8)
        length = 0
        for tree in range(roots.shape[0]):
            for entry in range(background_start[tree], background_start[tree + 1]):
                b = background[background_rows[entry]]
                weight = background_weights[entry]
                stack_node[0] = roots[tree]
                stack_length[0] = 0
                stack_feature[0] = -1
                stack_side[0] = 0
                top = 1
                while top > 0:
                    top -= 1
                    node = stack_node[top]
                    while length > stack_length[top]:
                        length -= 1
                        side_of[path_feature[length]] = 0
                    if stack_feature[top] >= 0:
                        path_feature[length] = stack_feature[top]
                        path_side[length] = stack_side[top]
                        side_of[stack_feature[top]] = stack_side[top]
                        length += 1
                    if left[node] == -1:
                        if length == 0:
                            continue
                        n_x = 0
                        for position in range(length):
                            if path_side[position] == 1:
                                n_x += 1
                        n_b = length - n_x
                        gain_x = weight * coef_x[n_x, n_b]
                        loss_b = weight * coef_b[n_x, n_b]
                        for position in range(length):
                            f = path_feature[position]
                            scale = gain_x if path_side[position] == 1 else -loss_b
                            for output in range(n_outputs):
                                phi[f, output] += scale * leaf_values[node, output]
                        continue
                    f = feature[node]
                    x_left = _goes_left(x[f], node, threshold, default_left, strict, missing)
                    b_left = _goes_left(b[f], node, threshold, default_left, strict, missing)
                    x_child = left[node] if x_left else right[node]
                    if x_left == b_left or side_of[f] == 1:
                        stack_node[top], stack_length[top], stack_feature[top] = x_child, length, -1
                        top += 1
                        continue
                    b_child = left[node] if b_left else right[node]
                    if side_of[f] == 2:
                        stack_node[top], stack_length[top], stack_feature[top] = b_child, length, -1
                        top += 1
                        continue
                    stack_node[top], stack_length[top] = x_child, length
                    stack_feature[top], stack_side[top] = f, 1
                    top += 1
                    stack_node[top], stack_length[top] = b_child, length
                    stack_feature[top], stack_side[top] = f, 2
                    top += 1
                while length > 0:
                    length -= 1
                    side_of[path_feature[length]] = 0
        for f in range(n_features):
            for output in range(n_outputs):
                result[sample, output, f] = phi[f, output]
    return result


@numba.njit(cache=True)
def background_groups(
    background: Floats,
    weights: Floats,
    left: Ints,
    threshold: Floats,
    default_left: Bools,
    strict: Bools,
    missing: Ints,
    feature: Ints,
    roots: Ints,
    node_end: Ints,
) -> tuple[Ints, Ints, Floats]:
    """Merge, per tree, background rows that take the same direction at every node of the tree.

    Such rows give identical Tree SHAP contributions, so each group is visited once with the sum
    of its weights. Returns (start, rows, weights) in the layout interventional_values expects.
    """
    n_trees, n_rows = roots.shape[0], background.shape[0]
    start = np.zeros(n_trees + 1, dtype=np.int64)
    rows = np.empty(n_trees * n_rows, dtype=np.int64)
    group_weights = np.empty(n_trees * n_rows)
    n_groups = 0
    for tree in range(n_trees):
        first_node, n_nodes = roots[tree], node_end[tree] - roots[tree]
        decisions = np.zeros((n_rows, n_nodes), dtype=np.bool_)
        codes = np.zeros(n_rows, dtype=np.uint64)
        for row in range(n_rows):
            code = np.uint64(1469598103934665603)
            for offset in range(n_nodes):
                node = first_node + offset
                if left[node] != -1:
                    value = background[row, feature[node]]
                    decision = _goes_left(value, node, threshold, default_left, strict, missing)
                    decisions[row, offset] = decision
                    code = (code ^ np.uint64(decision + 2 * offset)) * np.uint64(1099511628211)
            codes[row] = code
        first_group = n_groups
        for row in range(n_rows):
            match = -1
            for group in range(first_group, n_groups):
                representative = rows[group]
                if codes[representative] != codes[row]:
                    continue
                same = True
                for offset in range(n_nodes):
                    if decisions[row, offset] != decisions[representative, offset]:
                        same = False
                        break
                if same:
                    match = group
                    break
            if match >= 0:
                group_weights[match] += weights[row]
            else:
                rows[n_groups] = row
                group_weights[n_groups] = weights[row]
                n_groups += 1
        start[tree + 1] = n_groups
    return start, rows[:n_groups], group_weights[:n_groups]


def fill_hybrid_rows(
    rows: Floats, samples: Floats, background: Floats, masks: Bools, first_pair: int
) -> None:
    """rows[p, b] = the pair's sample values on its coalition's features, row b's elsewhere.

    Pair p is (sample (first_pair + p) // c, coalition (first_pair + p) % c) for c masks. The
    values are chosen bit for bit (a select on their 64-bit patterns, so NaN and infinities pass
    through unchanged), in one contiguous pass over the rows: as fast as copying them.
    """
    _fill_hybrid_bits(
        rows.view(np.uint64),
        samples.view(np.uint64),
        background.view(np.uint64),
        masks,
        first_pair,
    )


Words = npt.NDArray[np.uint64]


# Serial on purpose: the fill is memory-bound, and parallel numba threads would spin and slow
# down the model call that follows each fill.
@numba.njit(cache=True)
def _fill_hybrid_bits(
    rows: Words, samples: Words, background: Words, masks: Bools, first_pair: int
) -> None:
    n_coalitions = masks.shape[0]
    n_background, n_features = background.shape
    from_sample = np.empty(n_features, np.uint64)  # all ones where the coalition has feature f
    sample_bits = np.empty(n_features, np.uint64)
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    if n_background == 1:  # one row a pair (a stratum of one baseline row): select in one pass
        only = background[0]
        for p in range(rows.shape[0]):
            pair = first_pair + p
            sample = samples[pair // n_coalitions]
            mask = masks[pair % n_coalitions]
            for f in range(n_features):  # branch-free: the mask bits are random
                keep = np.uint64(0) - np.uint64(mask[f])  # all ones where the sample's value goes
                rows[p, 0, f] = (sample[f] & keep) | (only[f] & ~keep)
        return
    for p in range(rows.shape[0]):
        pair = first_pair + p
        sample = samples[pair // n_coalitions]
        mask = masks[pair % n_coalitions]
        for f in range(n_features):
            from_sample[f] = ones if mask[f] else np.uint64(0)
            sample_bits[f] = sample[f] & from_sample[f]
        for b in range(n_background):
            for f in range(n_features):
                rows[p, b, f] = sample_bits[f] | (background[b, f] & ~from_sample[f])


# Serial, as the fill: it runs between model calls, and one pass per row is memory-bound. Its sums
# over the pairs may be reassociated ("reassoc"), so that they run several pairs at a time in
# vector registers (2.5-3x faster); a row's sums are still the same whatever its batch, as each
# row's pairs are summed in the same order. NaN and infinities keep their meaning (no "nnan",
# "ninf").
@numba.njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def paired_power_moments(
    index: Floats,
    shift: Floats,
    weights: Floats,
    game_difference: Floats,
    game_total: Floats,
    weighted_powers: Floats,
    cross: Floats,
    game_cross: Floats,
    sums: Floats,
) -> None:
    """The control's two odd power columns' moments over complementary pairs, one pass a row.

    For each stratum g (the leading axis of every array) and its row r: index[g, r, j] = u is
    the centred index at pair j's first coalition; at its complement it is -u (the centre is the
    midpoint of a coalition and its complement). With s = shift[g, r], the odd powers
    q_0 = 3 and q_1 = 5 (the control's powers, written out so that the loop over the pairs runs in
    vector registers), w = weights[g, j] (the same for both
    coalitions of a pair; 0 for a stratum's padding past its own pairs), the columns are
    u^q - s^q and -u^q - s^q, so over both coalitions:
    cross[g, r, p, p'] = sum_j 2 w (u^q_p u^q_p' + s^q_p s^q_p');
    game_cross[g, r, p] = sum_j w (u^q_p (y - y') - s^q_p (y + y')), with game_difference y - y'
    and game_total y + y' of the game at the pair's two coalitions;
    weighted_powers[g, p, r, j] = 2 w u^q_p and sums[g, r, p] = sum_j w (u^q_p + s^q_p), from
    which the columns' projection on the coalitions is weighted_powers @ M - sums (M the pairs'
    first coalitions).
    """
    n_strata, n_rows, n_pairs = index.shape
    for g in range(n_strata):
        for r in range(n_rows):
            s = shift[g, r]
            s_low = s * s * s
            s_high = s_low * s * s
            low_low = low_high = high_high = game_low = game_high = sum_low = sum_high = 0.0
            weight_sum = 0.0
            for j in range(n_pairs):
                u = index[g, r, j]
                square = u * u
                low = u * square
                high = low * square
                w = weights[g, j]
                weighted_low = w * low
                weighted_high = w * high
                weighted_powers[g, 0, r, j] = 2.0 * weighted_low
                weighted_powers[g, 1, r, j] = 2.0 * weighted_high
                low_low += weighted_low * low
                low_high += weighted_low * high
                high_high += weighted_high * high
                difference = game_difference[g, r, j]
                total = game_total[g, r, j]
                game_low += weighted_low * difference - w * s_low * total
                game_high += weighted_high * difference - w * s_high * total
                sum_low += weighted_low
                sum_high += weighted_high
                weight_sum += w
            cross[g, r, 0, 0] = 2.0 * (low_low + weight_sum * s_low * s_low)
            cross[g, r, 0, 1] = cross[g, r, 1, 0] = 2.0 * (low_high + weight_sum * s_low * s_high)
            cross[g, r, 1, 1] = 2.0 * (high_high + weight_sum * s_high * s_high)
            game_cross[g, r, 0] = game_low
            game_cross[g, r, 1] = game_high
            sums[g, r, 0] = sum_low + weight_sum * s_low
            sums[g, r, 1] = sum_high + weight_sum * s_high


@numba.njit(cache=True)
def power_shapley_values(
    beta: Floats,
    shift: Floats,
    powers: Ints,
    node_weights: Floats,
    cumulants: Floats,
    binomials: Floats,
    values: Floats,
) -> None:
    """values[p, r, i]: the Shapley value of feature i in (shift + sum_{j in S} beta_j)^q - shift^q.

    q = powers[p], for each row r of beta (N, d) and shift (N,). Owen's integral over the nodes
    (weights node_weights (Q,)) of E[(shift + s + x)^q - (shift + s)^q] at x = beta_i, s the sum
    of the other beta_j times Bernoulli variables whose cumulants at each node are cumulants
    (Q, q_max); binomials[a, b] = C(a, b). See
    :func:`explainops.explainers.single_index.power_values`.

    The integrand is a polynomial in x whose coefficients depend on the row alone: the m-th
    cumulant of shift + s is k_m(q) (T_m - x^m) (plus shift for m = 1), with T_m the sum of the
    row's beta^m, so its moments, and sum_j C(q, j) x^(q - j) E[(shift + s)^j], are polynomials
    in x of degree at most q. Each row's polynomial is made once, by polynomial arithmetic at each
    node, and evaluated at every beta_i (Horner, vectorised over the features).
    """
    n_rows, n_features = beta.shape
    n_powers = powers.shape[0]
    highest = 0
    for p in range(n_powers):
        highest = max(highest, powers[p])
    size = highest + 1
    # every array below runs over the rows last: the per-row polynomial arithmetic is vectorised
    sums = np.zeros((size, n_rows))  # T_m of each row
    for r in range(n_rows):
        for i in range(n_features):
            term = 1.0
            for m in range(1, highest):
                term *= beta[r, i]
                sums[m, r] += term
    constants = np.empty((size, n_rows))  # the x^0 coefficient of each cumulant; of x^m: -k_m
    moments = np.empty((size, size, n_rows))  # moments[n, a]: of x^a in E[(shift + s)^n]
    polynomial = np.zeros((n_powers, size, n_rows))  # of x^a in the integral, for each power
    for node in range(node_weights.shape[0]):
        for m in range(1, highest):
            for r in range(n_rows):
                constants[m, r] = cumulants[node, m] * sums[m, r]
        for r in range(n_rows):
            constants[1, r] += shift[r]
        moments[:] = 0.0
        moments[0, 0, :] = 1.0
        for n in range(1, highest):  # moments from cumulants: sum_j C(n-1, j-1) k_j m_(n-j)
            for j in range(1, n + 1):
                factor = binomials[n - 1, j - 1]
                top = -factor * cumulants[node, j]  # a cumulant of order j: x^0 and x^j terms
                for b in range(n - j + 1):
                    for r in range(n_rows):
                        moments[n, b, r] += factor * constants[j, r] * moments[n - j, b, r]
                        moments[n, j + b, r] += top * moments[n - j, b, r]
        weight = node_weights[node]
        for p in range(n_powers):
            power = powers[p]
            for j in range(power):
                factor = weight * binomials[power, j]
                for b in range(j + 1):
                    for r in range(n_rows):
                        polynomial[p, power - j + b, r] += factor * moments[j, b, r]
    for p in range(n_powers):
        power = powers[p]
        for r in range(n_rows):
            for i in range(n_features):
                values[p, r, i] = polynomial[p, power, r]
            for degree in range(power - 1, -1, -1):
                coefficient = polynomial[p, degree, r]
                for i in range(n_features):
                    values[p, r, i] = values[p, r, i] * beta[r, i] + coefficient


# Serial, as the passes above; each (stratum, row) is solved on its own, so a row's coefficients
# do not depend on its batch.
@numba.njit(cache=True)
def control_coefficients(
    shift: Floats,
    sums: Floats,
    cross: Floats,
    game_cross: Floats,
    kkt_offset: Floats,
    kkt_column_sums: Floats,
    kkt_corner: Floats,
    game_values: Floats,
    game_multiplier: Floats,
    ridge: float,
    projected: Floats,
    estimates: Floats,
    coefficients: Floats,
) -> None:
    """The control's coefficients from its two power columns' moments, one pass a row.

    For each stratum g (the leading axis of every array) and row r, the columns c_p of the powers
    q_0 = 3 and q_1 = 5 of the centred index, with full values f_p = -2 s^q_p (s = shift[g, r]):
    on entry ``projected`` [g, p, r] holds weighted_powers @ M (see :func:`paired_power_moments`)
    and ``estimates`` [g, p, r] that times K (the inverse's block of the order-1 fit); ``sums``,
    ``cross`` and ``game_cross`` are that pass's. Each column's projection g_p = M^T W c_p is
    completed (less sums[g, r, p]), and its Kernel SHAP estimate phi_p = K g_p + o f_p (o =
    ``kkt_offset``, K's column sums ``kkt_column_sums`` taking the sums out of the product) and
    multiplier mu_p = o . g_p + m f_p (m = ``kkt_corner``). Then the residuals' inner products:
    gram[p, p'] = cross[p, p'] - g_p . phi_p' - f_p mu_p' and right[p] = game_cross[p] - g_p .
    phi_y - mu_y f_p (phi_y = ``game_values``, mu_y = ``game_multiplier``), and the coefficients
    solve (gram + ridge * curvature I) a = right, curvature the mean of gram's diagonal; they are
    0 where the curvature is not positive (nothing left for the control to fit).
    """
    n_strata, n_powers, n_rows, n_features = projected.shape
    fulls = np.empty(n_powers)
    multipliers = np.empty(n_powers)
    tiny = np.finfo(np.float64).tiny
    for g in range(n_strata):
        corner = kkt_corner[g]
        for r in range(n_rows):
            s = shift[g, r]
            fulls[0] = -2.0 * s * s * s
            fulls[1] = fulls[0] * s * s
            for p in range(n_powers):
                below = sums[g, r, p]
                full = fulls[p]
                multiplier = corner * full
                for i in range(n_features):
                    projected[g, p, r, i] -= below
                    estimates[g, p, r, i] += full * kkt_offset[g, i] - below * kkt_column_sums[g, i]
                    multiplier += projected[g, p, r, i] * kkt_offset[g, i]
                multipliers[p] = multiplier
            g00 = cross[g, r, 0, 0] - fulls[0] * multipliers[0]
            g01 = cross[g, r, 0, 1] - fulls[0] * multipliers[1]
            g10 = cross[g, r, 1, 0] - fulls[1] * multipliers[0]
            g11 = cross[g, r, 1, 1] - fulls[1] * multipliers[1]
            right0 = game_cross[g, r, 0] - game_multiplier[g, r] * fulls[0]
            right1 = game_cross[g, r, 1] - game_multiplier[g, r] * fulls[1]
            for i in range(n_features):
                first = projected[g, 0, r, i]
                second = projected[g, 1, r, i]
                g00 -= first * estimates[g, 0, r, i]
                g01 -= first * estimates[g, 1, r, i]
                g10 -= second * estimates[g, 0, r, i]
                g11 -= second * estimates[g, 1, r, i]
                right0 -= first * game_values[g, r, i]
                right1 -= second * game_values[g, r, i]
            curvature = (g00 + g11) / 2.0
            if not curvature > 0.0:  # a game the order-1 fit leaves nothing of (or unknown)
                coefficients[g, r, 0] = 0.0
                coefficients[g, r, 1] = 0.0
                continue
            shrink = ridge * curvature + tiny
            a = g00 + shrink
            e = g11 + shrink
            determinant = a * e - g01 * g10
            coefficients[g, r, 0] = (e * right0 - g01 * right1) / determinant
            coefficients[g, r, 1] = (a * right1 - g10 * right0) / determinant


@numba.njit(cache=True)
def odd_power_game(index: Floats, shift: Floats, coefficients: Floats) -> None:
    """index[r, j] <- a_0 (u^3 - s^3) + a_1 (u^5 - s^5), in place, one pass a row.

    u = index[r, j] (the centred index at a coalition), s = shift[r], a = coefficients[r] (R, 2):
    the control game of the powers 3 and 5 at each coalition, without the powers' columns.
    """
    n_rows, n_coalitions = index.shape
    for r in range(n_rows):
        s = shift[r]
        s_square = s * s
        s_low = s * s_square
        s_high = s_low * s_square
        a_low = coefficients[r, 0]
        a_high = coefficients[r, 1]
        for j in range(n_coalitions):
            u = index[r, j]
            square = u * u
            low = u * square
            high = low * square
            index[r, j] = (low - s_low) * a_low + (high - s_high) * a_high


@numba.njit(cache=True)
def pair_differences(
    values: Floats,
    firsts: Ints,
    complements: Ints,
    weights: Floats,
    difference: Floats,
    total: Floats,
    weighted: Floats,
    complement_sums: Floats,
) -> None:
    """A game at complementary pairs, one pass a row: its differences, sums and weighted parts.

    For each row r of ``values`` (R, C), the game at C coalitions, and pair j of first coalition
    firsts[j] and complement complements[j] (h pairs, of weight weights[j]): with y, y' the game
    there, difference[r, j] = y - y', total[r, j] = y + y', weighted[r, j] = w (y - y') and
    complement_sums[r] = sum_j w y'. The outputs may be wider than h: their columns past h are
    left as they are (a stratum's padding).
    """
    n_rows = values.shape[0]
    n_pairs = firsts.shape[0]
    for r in range(n_rows):
        complement_sum = 0.0
        for j in range(n_pairs):
            first = values[r, firsts[j]]
            second = values[r, complements[j]]
            apart = first - second
            difference[r, j] = apart
            total[r, j] = first + second
            weighted[r, j] = weights[j] * apart
            complement_sum += weights[j] * second
        complement_sums[r] = complement_sum
