"""results.json reading: the bootstrap keys are optional, checked when present."""
import json

import pytest

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.results import per_soundscape, read_results_json


def results(**extra) -> dict:
    out = {"CAPI-SDRi": {"mean": 5.0}, "label_metrics": {"accuracy_mix": 50.0, "accuracy_src": 60.0},
           "details": [{"soundscape": "a", "metrics": [{"metric": "CAPI-SDRi", "value": 4.0},
                                                       {"metric": "label_metrics", "value": {"acc": True}}]},
                       {"soundscape": "b", "metrics": [{"metric": "CAPI-SDRi", "value": None},
                                                       {"metric": "label_metrics", "value": {"acc": False}}]}]}
    for key, value in extra.items():
        if key in ("ci95", "accuracy_mix_ci95"):
            out["CAPI-SDRi" if key == "ci95" else "label_metrics"][key] = value
        else:
            out[key] = value
    return out


def write(tmp_path, value) -> object:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(value))
    return path


def test_an_older_file_without_intervals_is_read(tmp_path):
    assert "ci95" not in read_results_json(write(tmp_path, results()))["CAPI-SDRi"]


def test_intervals_and_settings_are_read(tmp_path):
    got = read_results_json(write(tmp_path, results(ci95=[4.0, 6.0], accuracy_mix_ci95=[0.0, 100.0],
                                                    bootstrap={"resamples": 1000, "seed": 0, "level": 0.95})))
    assert got["CAPI-SDRi"]["ci95"] == [4.0, 6.0] and got["label_metrics"]["accuracy_mix_ci95"] == [0.0, 100.0]
    assert read_results_json(write(tmp_path, results(ci95=None, accuracy_mix_ci95=None)))["CAPI-SDRi"]["ci95"] is None


@pytest.mark.parametrize("extra, message", [
    ({"ci95": [6.0, 4.0]}, "CAPI-SDRi.ci95 = [6.0, 4.0] has lo > hi"),
    ({"ci95": [4.0]}, "CAPI-SDRi.ci95 = [4.0] is not a pair"),
    ({"ci95": "4..6"}, "CAPI-SDRi.ci95 = '4..6' is not a list"),
    ({"ci95": [4.0, "6"]}, "CAPI-SDRi.ci95[1] = '6' is not a number"),
    ({"accuracy_mix_ci95": [-1.0, 50.0]}, "label_metrics.accuracy_mix_ci95[0] = -1.0 is outside [0, 100]"),
    ({"bootstrap": {"resamples": 0, "seed": 0, "level": 0.95}}, "bootstrap.resamples = 0 is outside"),
    ({"bootstrap": {"resamples": 10, "seed": 0, "level": 95}}, "bootstrap.level = 95 is outside (0, 1)"),
    ({"bootstrap": {"resamples": 10}}, "bootstrap lacks the key(s) ['seed', 'level']"),
])
def test_bad_intervals_are_refused(tmp_path, extra, message):
    with pytest.raises(S5InputError) as err:
        read_results_json(write(tmp_path, results(**extra)))
    assert message in str(err.value) and "score the dev test set again" in str(err.value)


def test_per_soundscape_values_from_details():
    assert per_soundscape(results()) == {"a": (4.0, 100.0), "b": (None, 0.0)}
    assert per_soundscape({"details": []}) == {}


@pytest.mark.parametrize("detail", [
    {"soundscape": "c"},                                                               # an older file
    {"soundscape": "c", "metrics": [{"metric": "CAPI-SDRi", "value": 1.0}]},           # no label metrics
    {"soundscape": "c", "metrics": [{"metric": "CAPI-SDRi", "value": "1"},
                                    {"metric": "label_metrics", "value": {"acc": True}}]},
    {"soundscape": "c", "metrics": [{"metric": "CAPI-SDRi", "value": 1.0},
                                    {"metric": "label_metrics", "value": {"acc": 1}}]},
    {"soundscape": "c", "metrics": [{"metric": "CAPI-SDRi", "value": 1.0}, {"metric": "label_metrics"}]},
    {"soundscape": "a", "metrics": [{"metric": "CAPI-SDRi", "value": 1.0},             # listed twice
                                    {"metric": "label_metrics", "value": {"acc": True}}]},
])
def test_details_without_usable_values_give_none(detail):
    value = results()
    value["details"].append(detail)
    assert per_soundscape(value) is None
