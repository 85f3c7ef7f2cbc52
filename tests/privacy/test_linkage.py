"""Linkage, AUC, nearest-neighbour ratios and mask IoU: closed-form values and controlled cases."""
import numpy as np
import pytest

from singanseg_lib.privacy import linkage as lk

REALS = np.array([[0.0], [1.0], [3.0]])
SAMPLES = np.array([[0.2], [2.5]])
SOURCE = np.array([0, 1])


def test_ranks_top_k_and_auc_by_hand():
    dist = lk.distances(SAMPLES, REALS)
    np.testing.assert_allclose(dist, [[0.2, 0.8, 2.8], [2.5, 1.5, 0.5]])
    ranks = lk.source_ranks(dist, SOURCE)
    np.testing.assert_array_equal(ranks, [1, 2])  # sample 1 is nearer to real 2 than to its source
    assert lk.top_k_rate(ranks, 1) == 0.5 and lk.top_k_rate(ranks, 2) == 1.0
    # own distances 0.2, 1.5 against the other pairs' 0.8, 2.8, 2.5, 0.5: 4 + 2 wins of 8
    assert lk.own_vs_other_auc(dist, SOURCE) == pytest.approx(0.75)


def test_nn_ratio_by_hand():
    dist = lk.distances(SAMPLES, REALS)
    ratio = lk.nn_ratio(dist, SOURCE, lk.distances(REALS, REALS))
    np.testing.assert_allclose(ratio, [0.2 / 1.0, 1.5 / 1.0])  # reals 0 and 1 are 1 apart
    summary = lk.linkage(SAMPLES, SOURCE, REALS)
    assert summary.ratio_median == pytest.approx(0.85) and summary.near_copy == 0.5 and summary.inside_source == 0.5
    assert summary.chance_top1 == pytest.approx(1 / 3) and summary.chance_top5 == 1.0


def test_ties_count_half():
    dist = lk.distances(np.array([[0.0]]), np.array([[-1.0], [1.0]]))  # the sample is half-way
    assert lk.source_ranks(dist, np.array([0]))[0] == 1.5
    assert lk.own_vs_other_auc(dist, np.array([0])) == 0.5
    assert lk.top_k_rate(lk.source_ranks(dist, np.array([0])), 1) == 0.0


def test_a_copy_of_the_source_is_linked_and_flagged():
    rng = np.random.default_rng(0)
    reals = rng.random((10, 48))
    source = np.arange(10).repeat(3)
    out = lk.linkage(reals[source], source, reals)
    assert out.top1 == 1.0 and out.auc == 1.0 and out.ratio_median == 0.0 and out.near_copy == 1.0 and out.linked


def test_independent_images_link_at_chance():
    rng = np.random.default_rng(1)
    reals, samples = rng.random((20, 48)), rng.random((1000, 48))
    out = lk.linkage(samples, rng.integers(0, 20, 1000), reals)
    sd = np.sqrt(0.05 * 0.95 / 1000)
    assert abs(out.top1 - 0.05) < 3 * sd and abs(out.top5 - 0.25) < 3 * np.sqrt(0.25 * 0.75 / 1000)
    assert abs(out.auc - 0.5) < 0.03 and not out.linked and out.near_copy == 0.0


def test_mask_iou_by_hand():
    ref = np.zeros((4, 4), bool)
    ref[:2] = True  # 8 pixels
    masks = np.zeros((3, 4, 4), bool)
    masks[0] = ref
    masks[1, :1] = True  # 4 of the 8
    np.testing.assert_allclose(lk.mask_iou(masks, ref), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(lk.mask_iou(np.zeros((1, 4, 4), bool), np.zeros((4, 4), bool)), [1.0])


def test_above_chance():
    assert lk.above_chance(0.2, 0.05, 100) and not lk.above_chance(0.1, 0.05, 100)  # 3 SD = 0.065


def test_bad_inputs_say_what():
    with pytest.raises(ValueError, match="same D"):
        lk.distances(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least 2 real images"):
        lk.source_ranks(np.zeros((2, 1)), np.array([0, 0]))
    with pytest.raises(ValueError, match="source indices must be in 0..2"):
        lk.source_ranks(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="reference of H×W"):
        lk.mask_iou(np.zeros((1, 4, 4)), np.zeros((3, 3)))
