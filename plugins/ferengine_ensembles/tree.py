"""``cnn-tree``: a tree of classifiers over a partition of the classes."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.balance import resample_indices
from ferengine.classifier import ProbaClassifier
from ferengine.images import validate_images, validate_labelled_images
from ferengine.labels import get_label_space
from ferengine.step_checks import require_probabilities
from ferengine.steps import build_model
from ferengine_ensembles import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_ensembles.params import STEP

#: fear vs rest → {angry, sad, neutral} vs {disgust, happy, surprise} → three-way leaves.
DEFAULT_PARTITION = ["fear", [["angry", "sad", "neutral"], ["disgust", "happy", "surprise"]]]


class ClassifierTree(ProbaClassifier):
    """A tree whose internal nodes are classifiers choosing among their children.

    Every internal node is trained on the images of the classes under it, to tell
    which child they belong to; a child is a class (leaf) or a subtree. Registered as
    ``cnn-tree``: its nodes are ``cnn`` classifiers unless ``node`` says otherwise.

    Parameters
    ----------
    partition : nested list, optional
        The tree: a list of children, each a class (name or code) or a list
        (subtree). Default: fear vs rest → {angry, sad, neutral} vs {disgust, happy,
        surprise} → three-way leaves.
    node : step or list of steps, optional
        The classifier of every node: a step (``{"name": "cnn", "params": {...}}``) or a
        list of steps forming a pipeline (``["hog", "svm-linear"]``). Default: the
        registered ``cnn`` classifier (the deep extra).
    nodes : dict, optional
        Per-node overrides, keyed by node path ("root", "1", "1.0", …: child indices).
    routing : {"soft", "hard"}
        "soft": a class's probability is the product of node probabilities along its
        path; "hard": every node sends the image to its most probable child.
    balance : bool
        Resample each node's training images so its children have equal counts.
    label_space : str
        Space that turns class names in ``partition`` into the codes of ``y``.
    seed : int
        Seed of the resampling.

    Attributes
    ----------
    tree_ : list
        The partition in the labels of ``y``, pruned of classes absent from it.
    nodes_ : dict
        Node path -> the fitted classifier of that node (its classes: child indices).
    classes_ : ndarray
        The training labels.
    """

    name = "cnn-tree"
    _image_input = True
    step_params: ClassVar[dict[str, str]] = {"node": "pipeline", "nodes": "pipeline-map"}
    _parameter_constraints: ClassVar[dict] = {
        "partition": [None, list, tuple],
        "node": [None, *STEP],
        "nodes": [None, Mapping],
        "routing": [StrOptions({"soft", "hard"})],
        "balance": ["boolean"],
        "label_space": [str],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"node": ["pixels", "logistic"]}
    _expected_failed_checks: ClassVar[dict] = {
        check: "the default partition is over fer7 class names and codes; the check's "
        "labels ('one', 'two', …) are in none of its leaves"
        for check in ("check_classifiers_classes", "check_classifiers_train")
    }

    def __init__(self, partition: Any = None, node: Any = None, nodes: dict | None = None,
                 routing: str = "soft", balance: bool = True, label_space: str = "fer7",
                 seed: int = 0) -> None:  # fmt: skip
        self.partition = partition
        self.node = node
        self.nodes = nodes
        self.routing = routing
        self.balance = balance
        self.label_space = label_space
        self.seed = seed

    # ---- structure ----------------------------------------------------------------------

    def _resolve(self, tree: Any, y: np.ndarray) -> Any:
        """Replace class names by the label values used in ``y``."""
        if isinstance(tree, list | tuple):
            return [self._resolve(child, y) for child in tree]
        if isinstance(tree, str) and y.dtype.kind in "iuf":  # numeric labels are codes
            return int(get_label_space(self.label_space).index(tree))
        return tree

    @staticmethod
    def _prune(tree: Any, present: set) -> Any:
        """Drop absent leaves and collapse the nodes left with a single child."""
        if not isinstance(tree, list | tuple):
            return tree if tree in present else None
        children = [c for c in (ClassifierTree._prune(child, present) for child in tree)
                    if c is not None]  # fmt: skip
        if not children:
            return None
        return children[0] if len(children) == 1 else children

    @staticmethod
    def _leaves(tree: Any) -> list[Any]:
        if isinstance(tree, list):
            return [leaf for child in tree for leaf in ClassifierTree._leaves(child)]
        return [tree]

    @staticmethod
    def _branch_targets(children: list[Any], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return each label's branch index under a node (-1: none) and the rows in one."""
        target = np.full(len(y), -1)
        for i, child in enumerate(children):
            target[np.isin(y, ClassifierTree._leaves(child))] = i
        return target, np.flatnonzero(target >= 0)

    def _internal(self, tree: Any, path: str = "root") -> list[tuple[str, list[Any]]]:
        """Return (path, children) of every internal node, parents first."""
        out = [(path, tree)]
        for i, child in enumerate(tree):
            if isinstance(child, list) and len(child) > 1:
                out += self._internal(child, f"{i}" if path == "root" else f"{path}.{i}")
        return out

    def _estimator(self, path: str) -> Any:
        spec = (self.nodes or {}).get(path, self.node)
        return build_model("cnn" if spec is None else spec)

    # ---- fitting and prediction ---------------------------------------------------------

    def fit(self, X: Any, y: Any) -> ClassifierTree:
        """Fit every node on the images of the classes under it.

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_labelled_images(self, X, y)
        self.tree_ = self._resolve(self.partition or DEFAULT_PARTITION, y)
        leaves = self._leaves(self.tree_)
        if len(set(leaves)) != len(leaves):
            raise ValueError(f"cnn-tree: a class appears twice in the partition {self.tree_}")
        unknown = set(np.unique(y).tolist()) - set(leaves)
        if unknown:
            raise ValueError(f"cnn-tree: classes {sorted(unknown)} are in no leaf of the partition")
        # classes of the partition that are absent from y are pruned away
        self.tree_ = self._prune(self.tree_, set(np.unique(y).tolist()))
        self.classes_ = np.unique(y)
        if not isinstance(self.tree_, list):
            raise ValueError("cnn-tree needs at least 2 classes, got 1 class")
        internal = self._internal(self.tree_)
        nodes = {path: self._estimator(path) for path, _ in internal}
        for path, node in nodes.items():  # before any node is fitted
            require_probabilities(node, f"cnn-tree node {path!r}")
        self.nodes_ = {}
        for path, children in internal:
            target, rows = self._branch_targets(children, y)
            if self.balance:
                rows = rows[resample_indices(target[rows], fraction=1.0, seed=self.seed)]
            self.nodes_[path] = nodes[path].fit(X[rows], target[rows])
        return self

    def _node_proba(self, path: str, X: np.ndarray, n_children: int) -> np.ndarray:
        model = self.nodes_[path]
        proba = np.zeros((len(X), n_children))
        proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X)
        return proba

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return class probabilities, columns in ``classes_`` order.

        Soft routing: products of node probabilities along each path; hard routing:
        one-hot leaves.
        """
        check_is_fitted(self, "nodes_")
        X = validate_images(self, X, reset=False)
        out = np.zeros((len(X), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_.tolist())}

        def walk(tree: list[Any], path: str, weight: np.ndarray) -> None:
            proba = self._node_proba(path, X, len(tree))
            if self.routing == "hard":
                proba = np.eye(len(tree))[proba.argmax(axis=1)]
            for i, child in enumerate(tree):
                w = weight * proba[:, i]
                if isinstance(child, list) and len(child) > 1:
                    walk(child, f"{i}" if path == "root" else f"{path}.{i}", w)
                else:
                    leaf = child[0] if isinstance(child, list) else child
                    out[:, index[leaf]] += w

        walk(self.tree_, "root", np.ones(len(X)))
        return out

    def node_report(self, X: Any, y: Any) -> dict[str, dict[str, Any]]:
        """Each node's accuracy on the test images whose true class lies under it.

        Returns
        -------
        dict
            Node path -> ``{"accuracy", "n", "children"}``: how well the node alone
            routes the images that truly reach it, beside the end-to-end accuracy.
        """
        check_is_fitted(self, "nodes_")
        X, y = validate_images(self, X, reset=False), np.asarray(y)
        report = {}
        for path, children in self._internal(self.tree_):
            target, rows = self._branch_targets(children, y)
            predicted = self._node_proba(path, X[rows], len(children)).argmax(axis=1)
            report[path] = {
                "accuracy": float(np.mean(predicted == target[rows])) if len(rows) else None,
                "n": len(rows),
                "children": [sorted(self._leaves(child)) for child in children],
            }
        return report
