import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk

from lineageflow.errors import InputError
from lineageflow.scribbles import BACKGROUND, FOREGROUND, sample_scribbles, scribbles_from_gt


def gt_2d():
    gt = np.zeros((120, 140), np.int32)
    centres = [(20, 20), (60, 60), (60, 77), (95, 110), (25, 100), (90, 30)]  # 2 and 3 touch
    for i, c in enumerate(centres):
        rr, cc = disk(c, 9, shape=gt.shape)
        gt[rr, cc] = i + 1
    return gt


def test_labels_values_and_placement():
    gt = gt_2d()
    s = sample_scribbles(gt, object_fraction=1.0, erosion=2, min_distance_from_objects=5, seed=3)
    assert s.dtype == np.uint8 and set(np.unique(s)) <= {0, FOREGROUND, BACKGROUND}
    fg = s == FOREGROUND
    assert fg.any()
    # foreground stays inside objects, at least `erosion` px from their outside
    inside = ndimage.distance_transform_edt(gt > 0)
    assert (inside[fg] > 2).all()
    # every object got a stroke (object_fraction=1)
    assert set(np.unique(gt[fg])) == set(range(1, 7))
    # background strokes away from objects, except the touching-border pieces
    bg_free = (s == BACKGROUND) & (gt == 0)
    assert bg_free.any()
    assert (ndimage.distance_transform_edt(gt == 0)[bg_free] >= 5).all()
    on_objects = (s == BACKGROUND) & (gt > 0)
    assert on_objects.any() and set(np.unique(gt[on_objects])) == {2, 3}
    # sparse: a small fraction of the image
    assert (s > 0).mean() < 0.05


def test_no_touching_boundaries_when_disabled():
    s = sample_scribbles(gt_2d(), object_fraction=1.0, touching_boundaries=False, seed=0)
    assert not ((s == BACKGROUND) & (gt_2d() > 0)).any()


def test_deterministic_and_seed_dependent():
    gt = gt_2d()
    a = sample_scribbles(gt, seed=7)
    np.testing.assert_array_equal(a, sample_scribbles(gt, seed=7))
    assert not np.array_equal(a, sample_scribbles(gt, seed=8))


def test_subset_of_objects_and_stroke_length():
    gt = gt_2d()
    s = sample_scribbles(gt, object_fraction=0.5, n_strokes_per_object=1, stroke_length=8, touching_boundaries=False,
                         seed=1)
    assert len(np.unique(gt[s == FOREGROUND])) == 3
    assert (s == FOREGROUND).sum() <= 3 * 8


def test_thickness_two_is_thicker():
    gt = gt_2d()
    thin = sample_scribbles(gt, object_fraction=1.0, thickness=1, erosion=1, seed=2, touching_boundaries=False)
    thick = sample_scribbles(gt, object_fraction=1.0, thickness=2, erosion=1, seed=2, touching_boundaries=False)
    assert (thick == FOREGROUND).sum() > (thin == FOREGROUND).sum()
    assert (ndimage.distance_transform_edt(gt > 0)[thick == FOREGROUND] > 1).all()


def test_3d_planar_strokes_inside():
    gt = np.zeros((16, 50, 50), np.int32)
    gt[3:13, 5:25, 5:25] = 1
    gt[3:13, 25:45, 5:25] = 2
    s = sample_scribbles(gt, object_fraction=1.0, n_strokes_per_object=2, seed=4)
    fg = s == FOREGROUND
    assert fg.any() and (ndimage.distance_transform_edt(gt > 0)[fg] > 2).all()
    for lab in (1, 2):  # each stroke lies in one z slice
        zs = np.unique(np.nonzero(fg & (gt == lab))[0])
        assert 1 <= len(zs) <= 2
    bg = (s == BACKGROUND) & (gt == 0)
    assert (ndimage.distance_transform_edt(gt == 0)[bg] >= 3).all()
    assert ((s == BACKGROUND) & (gt > 0)).any()  # border between the touching boxes


def test_thin_objects_and_empty_gt():
    gt = np.zeros((30, 30), np.int32)
    gt[10, 5:25] = 1  # one-pixel line: cannot be eroded
    s = sample_scribbles(gt, erosion=2, seed=0)
    assert (gt[s == FOREGROUND] == 1).all() and (s == FOREGROUND).any()
    empty = sample_scribbles(np.zeros((20, 20), np.int32), background_strokes=2, seed=0)
    assert (empty == BACKGROUND).any() and not (empty == FOREGROUND).any()


def test_errors_and_helper():
    with pytest.raises(InputError):
        sample_scribbles(np.zeros(5, np.int32))
    with pytest.raises(InputError):
        sample_scribbles(np.zeros((5, 5), np.float32))
    frames = scribbles_from_gt([gt_2d(), gt_2d()], seed=0)
    assert len(frames) == 2 and not np.array_equal(frames[0], frames[1])
