"""`ferengine plugins show KIND NAME`: each parameter's type, default and description."""

import json

import pytest
from click.testing import CliRunner

from ferengine import registry
from ferengine.cli import main
from ferengine.docstrings import ParameterDoc, one_line_description, parameter_docs


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_show_prints_type_default_and_description_of_each_parameter():
    result = run("plugins", "show", "feature", "hog")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ cell "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells == ["cell", "int or (int, int)", "8", "Cell size in pixels."]


def test_show_json_carries_the_parameter_docs():
    data = json.loads(run("plugins", "show", "feature", "hog", "--json").output)
    assert data["parameters"]["orientations"] == 9
    assert data["parameter_docs"]["orientations"] == {
        "type": "int",
        "description": "Orientation bins per cell.",
    }
    assert list(data["parameter_docs"]) == list(data["parameters"])


def test_inherited_parameters_are_described_by_the_class_that_documents_them():
    # logistic subclasses scikit-learn's LogisticRegression and documents none itself
    docs = registry.info("classifier", "logistic")["parameter_docs"]
    assert docs["C"]["type"] == "float"
    assert docs["C"]["description"].startswith("Inverse of regularization strength")
    # dlib-hog names mode and max_side without a description; FaceDetector describes them
    mode = parameter_docs(registry.get_registry().get("detector", "dlib-hog"))["mode"]
    assert mode == ParameterDoc('{"all", "largest"}', "Return every face or only the largest.",
                                "FaceDetector")  # fmt: skip


SOURCE = '''
import ferengine
from sklearn.base import BaseEstimator, TransformerMixin


class Base(TransformerMixin, BaseEstimator):
    """A base.

    Parameters
    ----------
    shared : float
        Documented once, here.
    """


class Plugin(Base):
    """Describe the parameters.

    Parameters
    ----------
    width, height : int
        Size of the output, in pixels. Later sentences are not shown.
    mode : {"a", "b"}
        The :class:`~sklearn.base.BaseEstimator` mode, ``"a"`` by default.
    scale
        No type here: the annotation gives it.

    Attributes
    ----------
    fitted_ : bool
        An attribute, not a parameter.
    """

    name = "documented"

    def __init__(self, width=4, height=2, mode="a", scale: float = 1.0, shared=0.5, bare=None):
        self.width = width
        self.height = height
        self.mode = mode
        self.scale = scale
        self.shared = shared
        self.bare = bare

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


@ferengine.hookimpl
def ferengine_register_features():
    return [Plugin]
'''


def test_a_third_party_plugin_is_described_from_its_docstring(make_dist, fresh_registry):
    make_dist("fakeplug-doc", {"doc": "fakeplug_doc"}, {"fakeplug_doc.py": SOURCE})
    result = run("plugins", "show", "feature", "documented", "--json")
    assert result.exit_code == 0, result.output
    docs = json.loads(result.output)["parameter_docs"]
    assert docs == {
        "width": {"type": "int", "description": "Size of the output, in pixels."},
        "height": {"type": "int", "description": "Size of the output, in pixels."},
        "mode": {"type": '{"a", "b"}', "description": 'The BaseEstimator mode, "a" by default.'},
        "scale": {"type": "float", "description": "No type here: the annotation gives it."},
        "shared": {"type": "float", "description": "Documented once, here."},
        "bare": {"type": "", "description": ""},
    }  # fmt: skip
    table = run("plugins", "show", "feature", "documented").output
    assert "Later sentences" not in table and "fitted_" not in table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ""),
        ("One sentence.", "One sentence."),
        ("First line\ncontinues. Second sentence.", "First line continues."),
        ("Paragraph one\n\nParagraph two.", "Paragraph one"),
        (":func:`ferengine.save` writes it; see ``x``.", "save writes it; see x."),
        ('Options: "a" or "b".', 'Options: "a" or "b".'),
    ],
)
def test_one_line_description(text, expected):
    assert one_line_description(text) == expected


@pytest.mark.parametrize(
    "record",
    [r for r in registry.records() if r.cls is not None and r.builtin],
    ids=lambda r: f"{r.kind}:{r.name}",
)
def test_every_builtin_parameter_has_a_type_and_a_description(record):
    undocumented = [
        name
        for name, doc in parameter_docs(record.cls).items()
        if not (doc.type and doc.description)
    ]
    assert not undocumented, (
        f"{record.kind} {record.name!r} ({record.module}.{record.cls.__qualname__}): document "
        f"{', '.join(undocumented)} in the class docstring's Parameters section"
    )
