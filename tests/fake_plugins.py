"""Source of a fake third-party feature plugin, for tests that install one with ``make_dist``."""

FEATURE_SRC = '''
import ferengine
from sklearn.base import BaseEstimator, TransformerMixin

class Mean(TransformerMixin, BaseEstimator):
    """Mean pixel value ({tag})."""
    name = "{name}"
    tag = "{tag}"
    requires = {requires!r}
    def __init__(self, k=1):
        self.k = k
    def fit(self, X, y=None):
        return self
    def transform(self, X):
        return X.reshape(len(X), -1).mean(axis=1, keepdims=True)

@ferengine.hookimpl
def ferengine_register_features():
    return [Mean]
'''


def feature_module(name: str = "mean-pixel", requires=(), tag: str = "fake") -> str:
    """Return the module source of a feature plugin ``name`` needing modules ``requires``."""
    return FEATURE_SRC.format(name=name, requires=tuple(requires), tag=tag)
