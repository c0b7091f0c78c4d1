"""Checks of scikit-learn (and scipy) objects whose arrays reach compiled code or predictions.

Trees (``Tree`` node arrays, walked in C without bounds checks), forests and
gradient boosting, libsvm models (support vectors, coefficients, per-class
counts), linear classifiers, nearest neighbours, multi-layer perceptrons,
calibrated classifiers, k-means codebooks, label encoders and scipy sparse
matrices: each check compares array shapes with ``n_features_in_`` and the
classes, checks indices against what they index and floats for finiteness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import (
    all_finite,
    array,
    check_array,
    check_integer,
    classes,
    equal,
    finite_at,
    in_range,
    in_range_at,
    integer,
    number,
    one_of,
)

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "softmax")
_LIBSVM_KERNELS = ("linear", "poly", "rbf", "sigmoid", "precomputed")
_LIBSVM_CLASSIFIERS = ("c_svc", "nu_svc")
_LIBSVM_IMPLS = (*_LIBSVM_CLASSIFIERS, "one_class", "epsilon_svr", "nu_svr")


@register_check("sklearn.tree._tree.Tree")
def check_tree(tree: Any) -> None:
    """Node arrays of a fitted tree: children, features, thresholds, values, depth.

    scikit-learn walks ``children_left``/``children_right`` and reads
    ``X[:, feature]`` in C without checks. It always numbers a child after its
    parent, which is required here: it rules out out-of-range children and loops.
    """
    capacity = check_integer(tree.capacity, "capacity", 0)
    n = check_integer(tree.node_count, "node_count", 1)
    if n > capacity:
        raise FieldError("node_count", f"= {n} is more than the {capacity} nodes stored")
    n_features = check_integer(tree.n_features, "n_features", 1)
    n_outputs = check_integer(tree.n_outputs, "n_outputs", 1)
    n_classes = check_array(tree.n_classes, "n_classes", shape=(n_outputs,), kind="i")
    in_range(n_classes, "n_classes", 1, 1 << 31)
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    node = np.arange(n)
    leaf = left == -1
    for name, child in (("children_left", left), ("children_right", right)):
        bad = np.flatnonzero(~leaf & ((child <= node) | (child >= n)))
        if bad.size:
            i = int(bad[0])
            raise FieldError(f"{name}[{i}]", f"= {child[i]} is outside [{i + 1}, {n})")
    bad = np.flatnonzero(leaf & (right != -1))
    if bad.size:
        i = int(bad[0])
        raise FieldError(f"children_right[{i}]", f"= {right[i]} for a leaf (children_left = -1)")
    internal = np.flatnonzero(~leaf)
    in_range_at(feature, internal, "feature", 0, n_features)
    finite_at(threshold, internal, "threshold")
    if hasattr(tree, "missing_go_to_left"):
        in_range(tree.missing_go_to_left, "missing_go_to_left", 0, 2)
    all_finite(tree.value, "value")
    depth, frontier = 0, np.array([0])
    while True:  # children come after parents: at most n levels, one numpy step each
        frontier = frontier[~leaf[frontier]]
        if not frontier.size:
            break
        frontier = np.concatenate([left[frontier], right[frontier]])
        depth += 1
    if tree.max_depth < depth:  # decision_path() sizes its output with max_depth
        raise FieldError(
            "max_depth", f"= {tree.max_depth} is less than the depth {depth} of the nodes"
        )


@register_check("sklearn.tree._classes.BaseDecisionTree")
def check_decision_tree(est: Any) -> None:
    """Check a fitted decision tree's ``tree_`` against its features, outputs and classes."""
    if not hasattr(est, "tree_"):
        return
    tree = est.tree_
    if type(tree).__module__ != "sklearn.tree._tree" or type(tree).__name__ != "Tree":
        raise FieldError("tree_", f"is a {type(tree).__name__}, expected a Tree")
    n_features = integer(est, "n_features_in_", 1)
    equal("tree_.n_features", tree.n_features, "n_features_in_", n_features)
    equal("tree_.n_outputs", tree.n_outputs, "n_outputs_", est.n_outputs_)
    if hasattr(est, "classes_") and tree.n_outputs == 1:
        labels = classes(est)
        equal("len(classes_)", len(labels), "tree_.n_classes[0]", int(tree.n_classes[0]))
        equal("n_classes_", integer(est, "n_classes_", 1), "len(classes_)", len(labels))


@register_check("sklearn.ensemble._forest.BaseForest")
def check_forest(est: Any) -> None:
    """Every tree of a fitted forest has the forest's features, outputs and classes."""
    if not hasattr(est, "estimators_"):
        return
    trees = est.estimators_
    if not isinstance(trees, list) or not trees:
        raise FieldError("estimators_", "is not a non-empty list of trees")
    n_features = integer(est, "n_features_in_", 1)
    single = hasattr(est, "classes_") and est.n_outputs_ == 1
    if single:
        equal("n_classes_", integer(est, "n_classes_", 1), "len(classes_)", len(classes(est)))
    for i, tree in enumerate(trees):
        if not hasattr(tree, "tree_"):
            raise FieldError(f"estimators_[{i}]", f"is a {type(tree).__name__}, expected a tree")
        equal(f"estimators_[{i}].n_features_in_", tree.n_features_in_, "n_features_in_", n_features)
        equal(f"estimators_[{i}].n_outputs_", tree.n_outputs_, "n_outputs_", est.n_outputs_)
        if single:
            equal(f"estimators_[{i}].n_classes_", tree.n_classes_, "n_classes_", est.n_classes_)


@register_check("sklearn.ensemble._gb.BaseGradientBoosting")
def check_gradient_boosting(est: Any) -> None:
    """Check a fitted gradient-boosting model: a grid of one-output regression trees."""
    if not hasattr(est, "estimators_"):
        return
    grid = array(est, "estimators_", ndim=2)
    n_features = integer(est, "n_features_in_", 1)
    per_iteration = getattr(est, "n_trees_per_iteration_", grid.shape[1])
    equal("estimators_.shape[1]", grid.shape[1], "n_trees_per_iteration_", per_iteration)
    if hasattr(est, "classes_"):
        n = len(classes(est))
        equal("estimators_.shape[1]", grid.shape[1], "trees per class", 1 if n == 2 else n)
    for i, tree in enumerate(grid.ravel()):
        if not hasattr(tree, "tree_"):
            raise FieldError(f"estimators_.flat[{i}]", f"is a {type(tree).__name__}, not a tree")
        equal(f"estimators_.flat[{i}].n_features_in_", tree.n_features_in_, "n_features_in_",
              n_features)  # fmt: skip
        equal(f"estimators_.flat[{i}].tree_.n_outputs", tree.tree_.n_outputs, "one output", 1)


@register_check("sklearn.svm._base.BaseLibSVM")
def check_libsvm(est: Any) -> None:
    """Check a fitted libsvm model (SVC, NuSVC, SVR, NuSVR, OneClassSVM).

    libsvm reads ``support_vectors_``, ``_dual_coef_``, ``_intercept_`` and
    ``_probA``/``_probB`` with the sizes ``_n_support`` and ``support_`` imply,
    and with a precomputed kernel uses ``support_`` as column indices.
    """
    if not hasattr(est, "support_"):
        return
    impl = one_of(est, "_impl", _LIBSVM_IMPLS)
    kernel = est.kernel
    if not callable(kernel) and kernel not in _LIBSVM_KERNELS:
        raise FieldError("kernel", f"= {kernel!r} is not one of {_LIBSVM_KERNELS}")
    if est._sparse is not False:
        raise FieldError("_sparse", f"= {est._sparse!r}: models fitted on sparse data are not read")
    support = array(est, "support_", ndim=1, kind="i")
    vectors = array(est, "support_vectors_", ndim=2, kind="f", finite=True)
    n_support = array(est, "_n_support", ndim=1, kind="i")
    fit_shape = est.shape_fit_
    if not (isinstance(fit_shape, tuple) and len(fit_shape) == 2):
        raise FieldError("shape_fit_", f"= {fit_shape!r} is not a (rows, columns) pair")
    n_train = check_integer(fit_shape[0], "shape_fit_[0]", 1)
    n_features = integer(est, "n_features_in_", 1)
    count = len(support)
    if kernel == "precomputed":
        equal("n_features_in_", n_features, "shape_fit_[0]", n_train)
        in_range(support, "support_", 0, n_train)
    else:
        equal("len(support_)", count, "len(support_vectors_)", len(vectors))
        equal("support_vectors_.shape[1]", vectors.shape[1], "n_features_in_", n_features)
        in_range(support, "support_", 0, n_train)
    if impl in _LIBSVM_CLASSIFIERS:
        n_classes = len(classes(est, at_least=2))
        equal("len(_n_support)", len(n_support), "len(classes_)", n_classes)
        in_range(n_support, "_n_support", 0, count + 1)
        equal("sum(_n_support)", int(n_support.sum()), "len(support_)", count)
        rows, pairs = n_classes - 1, n_classes * (n_classes - 1) // 2
    else:
        equal("len(_n_support)", len(n_support), "2", 2)
        rows, pairs = 1, 1
    array(est, "_dual_coef_", shape=(rows, count), kind="f", finite=True)
    array(est, "_intercept_", shape=(pairs,), kind="f", finite=True)
    for name in ("_probA", "_probB"):
        value = array(est, name, ndim=1, kind="f", finite=True)
        if len(value) not in (0, pairs):
            raise FieldError(name, f"has length {len(value)}, expected 0 or {pairs}")
    number(est, "_gamma")
    number(est, "coef0")
    integer(est, "degree", 0, 1 << 31)


@register_check("sklearn.linear_model._base.LinearClassifierMixin")
def check_linear_classifier(est: Any) -> None:
    """``coef_`` and ``intercept_`` of a fitted linear classifier against features and classes."""
    if not hasattr(est, "coef_"):
        return
    n_classes = len(classes(est, at_least=2))
    rows = 1 if n_classes == 2 else n_classes
    n_features = integer(est, "n_features_in_", 1)
    array(est, "coef_", shape=(rows, n_features), kind="f", finite=True)
    intercept = est.intercept_
    if isinstance(intercept, np.ndarray):
        check_array(intercept, "intercept_", shape=(rows,), kind="f", finite=True)
    else:
        number(est, "intercept_")


@register_check("sklearn.neighbors._base.NeighborsBase")
def check_neighbors(est: Any) -> None:
    """Check the stored training set of a fitted nearest-neighbour model and its labels."""
    if not hasattr(est, "_fit_X"):
        return
    method = one_of(est, "_fit_method", ("brute", "kd_tree", "ball_tree"))
    if method == "brute" and est._tree is not None:
        raise FieldError("_tree", "is set for a brute-force search")
    n_fit = integer(est, "n_samples_fit_", 1)
    n_features = integer(est, "n_features_in_", 1)
    array(est, "_fit_X", shape=(n_fit, n_features), kind="f", finite=True)
    if isinstance(getattr(est, "n_neighbors", None), int | np.integer):
        integer(est, "n_neighbors", 1, n_fit + 1)
    if hasattr(est, "classes_") and hasattr(est, "_y"):
        if getattr(est, "outputs_2d_", False):
            raise FieldError("outputs_2d_", "= True: multi-output neighbours are not read")
        labels = array(est, "_y", shape=(n_fit,), kind="i")
        in_range(labels, "_y", 0, len(classes(est)))


@register_check("sklearn.neural_network._multilayer_perceptron.BaseMultilayerPerceptron")
def check_mlp(est: Any) -> None:
    """Layer weights of a fitted perceptron chain from ``n_features_in_`` to ``n_outputs_``."""
    if not hasattr(est, "coefs_"):
        return
    coefs, intercepts = est.coefs_, est.intercepts_
    if not (isinstance(coefs, list) and isinstance(intercepts, list) and coefs):
        raise FieldError("coefs_", "is not a non-empty list of weight matrices")
    equal("len(intercepts_)", len(intercepts), "len(coefs_)", len(coefs))
    equal("n_layers_", est.n_layers_, "len(coefs_) + 1", len(coefs) + 1)
    width = integer(est, "n_features_in_", 1)
    for i, (coef, bias) in enumerate(zip(coefs, intercepts, strict=True)):
        check_array(coef, f"coefs_[{i}]", shape=(width, None), kind="f", finite=True)
        width = coef.shape[1]
        check_array(bias, f"intercepts_[{i}]", shape=(width,), kind="f", finite=True)
    equal("n_outputs_", est.n_outputs_, "coefs_[-1].shape[1]", width)
    one_of(est, "activation", _ACTIVATIONS)
    one_of(est, "out_activation_", _ACTIVATIONS)
    binarizer = getattr(est, "_label_binarizer", None)
    if binarizer is not None:
        n_classes = len(classes(binarizer))
        if binarizer.y_type_ == "multiclass":
            equal("n_outputs_", width, "len(_label_binarizer.classes_)", n_classes)
        elif binarizer.y_type_ == "binary":
            equal("n_outputs_", width, "one output for two classes", 1)
        else:
            equal("n_outputs_", width, "len(_label_binarizer.classes_)", n_classes)
        if hasattr(est, "classes_") and not np.array_equal(est.classes_, binarizer.classes_):
            raise FieldError("classes_", "differ from _label_binarizer.classes_")


@register_check("sklearn.preprocessing._label.LabelBinarizer")
def check_label_binarizer(est: Any) -> None:
    """Check a fitted label binarizer's classes and target type."""
    if hasattr(est, "classes_"):
        classes(est)
        types = ("binary", "multiclass", "multilabel-indicator")
        one_of(est, "y_type_", types)


@register_check("sklearn.preprocessing._label.LabelEncoder")
def check_label_encoder(est: Any) -> None:
    """Check a fitted label encoder's classes (sorted, distinct)."""
    if hasattr(est, "classes_"):
        labels = classes(est)
        if labels.dtype.kind != "O" and not np.all(labels[:-1] < labels[1:]):
            raise FieldError("classes_", "are not sorted")


@register_check("sklearn.calibration.CalibratedClassifierCV")
def check_calibrated_cv(est: Any) -> None:
    """Every per-fold calibrated classifier has the model's classes."""
    if not hasattr(est, "calibrated_classifiers_"):
        return
    labels = classes(est)
    folds = est.calibrated_classifiers_
    if not isinstance(folds, list) or not folds:
        raise FieldError("calibrated_classifiers_", "is not a non-empty list")
    for i, fold in enumerate(folds):
        if not np.array_equal(np.asarray(fold.classes), labels):
            raise FieldError(f"calibrated_classifiers_[{i}].classes", "differ from classes_")


@register_check("sklearn.calibration._CalibratedClassifier")
def check_calibrated(cal: Any) -> None:
    """One calibrated classifier: one calibrator per class its estimator knows."""
    labels = check_array(np.asarray(cal.classes), "classes", ndim=1)
    one_of(cal, "method", ("sigmoid", "isotonic"))
    inner = getattr(cal.estimator, "classes_", None)
    if inner is None:
        raise FieldError("estimator", "is not a fitted classifier")
    inner = check_array(np.asarray(inner), "estimator.classes_", ndim=1)
    if not np.isin(inner, labels).all():
        raise FieldError("estimator.classes_", "are not all among classes")
    if not isinstance(cal.calibrators, list):
        raise FieldError("calibrators", "is not a list")
    n = len(inner)
    equal("len(calibrators)", len(cal.calibrators), "calibrators needed", 1 if n == 2 else n)


@register_check("sklearn.calibration._SigmoidCalibration")
def check_sigmoid(cal: Any) -> None:
    """Platt scaling coefficients."""
    if hasattr(cal, "a_"):
        number(cal, "a_")
        number(cal, "b_")


@register_check("sklearn.isotonic.IsotonicRegression")
def check_isotonic(est: Any) -> None:
    """Check the interpolation table of a fitted isotonic regression."""
    if not hasattr(est, "X_thresholds_"):
        return
    xs = array(est, "X_thresholds_", ndim=1, kind="f", finite=True)
    array(est, "y_thresholds_", shape=(len(xs),), kind="f", finite=True)
    number(est, "X_min_")
    number(est, "X_max_")


@register_check("sklearn.cluster._kmeans._BaseKMeans")
def check_kmeans(est: Any) -> None:
    """Cluster centres of a fitted k-means (read in C with the input's width)."""
    if not hasattr(est, "cluster_centers_"):
        return
    n_features = integer(est, "n_features_in_", 1)
    array(est, "cluster_centers_", shape=(None, n_features), kind="f", finite=True)
    if len(est.cluster_centers_) < 1:
        raise FieldError("cluster_centers_", "is empty")
    if hasattr(est, "_n_threads"):
        integer(est, "_n_threads", 1, 4097)


@register_check("scipy.sparse._base._spbase")
def check_sparse(matrix: Any) -> None:
    """Index arrays of a scipy sparse matrix (C++ kernels trust them)."""
    fmt = matrix.format
    try:
        if fmt in ("csr", "csc", "bsr"):
            matrix.check_format(full_check=True)
        elif fmt == "coo":
            rows, cols = matrix.shape
            in_range(np.asarray(matrix.row), "row", 0, rows)
            in_range(np.asarray(matrix.col), "col", 0, cols)
        elif fmt != "dia":
            raise FieldError("format", f"= {fmt!r} is not read from model files")
    except (ValueError, IndexError, TypeError) as exc:
        raise FieldError("", f"is an inconsistent {fmt} matrix: {exc}") from None
    all_finite(np.asarray(matrix.data), "data")
