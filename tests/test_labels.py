import numpy as np
import pytest

from ferengine.errors import LabelError
from ferengine.labels import (
    CKPLUS7,
    FER7,
    VALENCE3,
    LabelSpace,
    canonical,
    get_label_space,
    mapping,
)


def test_builtin_spaces_have_the_documented_order():
    assert FER7.names == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert CKPLUS7.names[1] == "contempt"
    assert get_label_space("affectnet8").names[0] == "neutral"
    assert get_label_space("valence3").names == ("positive", "neutral", "negative")
    with pytest.raises(LabelError, match="unknown label space 'fer8'"):
        get_label_space("fer8")


def test_aliases_encode_and_decode():
    assert canonical("Anger") == "angry" and canonical("sadness") == "sad"
    assert canonical("surprised") == "surprise" and canonical("happiness") == "happy"
    codes = FER7.encode(["anger", "happiness", "Sadness", "surprised", "neutral"])
    assert codes.tolist() == [0, 3, 4, 5, 6]
    assert FER7.decode(codes).tolist() == ["angry", "happy", "sad", "surprise", "neutral"]
    with pytest.raises(LabelError, match="'contempt' is not in label space 'fer7'"):
        FER7.encode(["contempt"])
    with pytest.raises(LabelError, match="outside label space"):
        FER7.encode(np.array([0, 7]))


def test_duplicate_classes_are_refused():
    with pytest.raises(LabelError, match="duplicate"):
        LabelSpace("bad", ("anger", "angry"))


def test_valence_mapping_follows_the_documented_table():
    m = mapping("fer7", "valence3")
    codes, keep = m.apply(np.arange(7))
    assert keep.all()
    names = VALENCE3.decode(codes).tolist()
    assert dict(zip(FER7.names, names, strict=True)) == {
        "angry": "negative",
        "disgust": "negative",
        "fear": "negative",
        "happy": "positive",
        "sad": "negative",
        "surprise": "neutral",
        "neutral": "neutral",
    }
    ck_codes, _ = mapping("ckplus7", "valence3").apply([CKPLUS7.index("contempt")])
    assert VALENCE3.decode(ck_codes).tolist() == ["negative"]


def test_unmapped_policies_drop_error_or_map():
    contempt = CKPLUS7.index("contempt")
    codes, keep = mapping("ckplus7", "fer7", unmapped="drop").apply([0, contempt, 6])
    assert keep.tolist() == [True, False, True]
    assert FER7.decode(codes[keep]).tolist() == ["angry", "surprise"]
    with pytest.raises(LabelError, match="contempt"):
        mapping("ckplus7", "fer7", unmapped="error").apply([contempt])
    codes, keep = mapping("ckplus7", "fer7", unmapped="disgust").apply([contempt])
    assert keep.all() and FER7.decode(codes).tolist() == ["disgust"]
    codes, _ = mapping("ckplus7", "fer7", table={"contempt": "angry"}).apply([contempt])
    assert FER7.decode(codes).tolist() == ["angry"]
    with pytest.raises(LabelError):
        mapping("ckplus7", "fer7", unmapped="boredom")
