import pytest
import torch

from espnet2_ext.s5 import labels as L


def test_class_list_is_official_order():
    assert len(L.CLASSES) == 18
    assert L.CLASSES[0] == "AlarmClock" and L.CLASSES[15] == "Speech" and L.CLASSES[17] == "VacuumCleaner"
    assert L.SILENCE_INDEX == 18 and L.LABELS_WITH_SILENCE[18] == "silence"


def test_stack_and_query_encodings():
    stack = L.labels_to_stack(["Speech", "Cough"])
    assert stack.shape == (3, 19)
    assert stack[0, 15] == 1 and stack[1, 5] == 1 and stack[2, 18] == 1
    assert torch.equal(stack.sum(-1), torch.ones(3))
    q = L.labels_to_query(["FootSteps", "silence", "FootSteps"])
    assert q.shape == (54,)
    assert q[9] == 1 and q[18:36].sum() == 0 and q[36 + 9] == 1
    assert L.query_to_labels(q) == ["FootSteps", "silence", "FootSteps"]


def test_unknown_label_and_too_many_labels_are_rejected():
    with pytest.raises(ValueError, match="unknown label 'Dog'"):
        L.labels_to_query(["Dog"])
    with pytest.raises(ValueError, match="4 labels"):
        L.pad_labels(["Speech"] * 4)


def test_silence_last_is_stable():
    assert L.silence_last(["silence", "Speech", "silence"]) == [1, 0, 2]
    assert L.silence_last(["Cough", "Speech", "Typing"]) == [0, 1, 2]
