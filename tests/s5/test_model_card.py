"""The model card of a packed system (espnet2_ext/s5/model_card.py), rendered from plain inputs."""
from __future__ import annotations

import copy

import pytest
import yaml

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5 import model_card as mc

RESULTS = {"CAPI-SDRi": {"mean": 8.48912, "ci95": [7.9013, 9.1042]},
           "label_metrics": {"accuracy_mix": 60.714, "accuracy_src": 70.394, "accuracy_mix_ci95": [55.25, 66.5]},
           "n_mixtures": 28, "n_scored_mixtures": 27, "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95},
           "details": [{"soundscape": "a"}], "config": {"system": "4c_resunetk"}}
CONFIGS = {"tagger": {"tagger": "m2d_at_4c", "tagger_conf": {"nchan": 4, "finetuning_layers": "2_blocks"},
                      "optim": "adamw", "optim_conf": {"lr": 0.0001}, "batch_size": 32, "max_epoch": 100, "seed": 0},
           "separator": {"separator": "resunetk", "loss": "capi_pit", "batch_size": 4, "max_epoch": 200}}


def card(name: str = "4c_resunetk", results=RESULTS, **kw) -> str:
    return mc.model_card(name, CONFIGS, {"tagger": "exp/tag_blocks_4c/valid.loss.best.pth",
                                         "separator": "exp/sep_resunetk/valid.loss.best.pth"},
                         {"tagger": "sha256:aa", "separator": "sha256:bb"},
                         {"path": "checkpoint/m2d/weights.pth", "digest": "sha256:cc"},
                         {"tagger_model": "tagger/model.pth"}, f"{name}.zip", results=results,
                         code_versions={"packing (stage 9)": "0123456789ab"}, **kw)


def prose(text: str) -> str:
    """The Markdown after the header, fenced code blocks left out (there, text is shown literally)."""
    out, fence = [], None
    for line in text[text.index("\n---\n", 4):].splitlines():
        if fence is None and line.startswith("```"):
            fence = line[:len(line) - len(line.lstrip("`"))]
        elif fence is not None and line == fence:
            fence = None
        elif fence is None:
            out.append(line)
    return "\n".join(out)


def header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:text.index("\n---\n", 4)])


def test_header_follows_the_hub_spec_and_holds_the_scores():
    from huggingface_hub import ModelCard
    text = card()
    meta = header(text)
    assert {"license", "library_name", "tags", "datasets", "metrics", "model-index"} <= set(meta)
    assert meta["library_name"] == "espnet" and {"audio", "dcase2026", "espnet"} <= set(meta["tags"])
    parsed = ModelCard(text, ignore_metadata_errors=False).data      # huggingface_hub's own parser
    assert parsed.license == "other" and parsed.license_link.endswith("LICENSE.pdf")
    values = {r.metric_name: r.metric_value for r in parsed.eval_results}
    assert values == {"CAPI-SDRi (dB)": 8.48912, "Mixture label accuracy (%)": 60.714,
                      "Source label accuracy (%)": 70.394}
    assert parsed.model_name == "4c_resunetk" and parsed.eval_results[0].dataset_split == "test"
    assert "| CAPI-SDRi (dB) | 8.489 | [7.901, 9.104] |" in text
    assert "| Mixture label accuracy (%) | 60.714 | [55.250, 66.500] |" in text
    assert f"| Source label accuracy (%) | 70.394 | {mc.NOT_BOOTSTRAPPED} |" in text
    assert "Scored on 28 soundscapes" in text and "1000 resamples" in text
    for section in ("## System", "## Training configs", "## Results on the dev test set", "## Code version",
                    "## How to use", "## Licence", "## Citation"):
        assert f"\n{section}\n" in text
    assert 'S5Separate.from_pretrained("4c_resunetk.zip")' in text
    assert "./run.sh --stage 7 --stop-stage 8 --packed_model 4c_resunetk.zip" in text
    assert "@article{nguyen2026dcase," in text and "SOFTWARE LICENSE AGREEMENT FOR EVALUATION" in text
    assert "argmax per slot" in text and "0123456789ab" in text and "| max\\_epoch | 100 |" in text


def test_no_intervals_are_said_so():
    old = copy.deepcopy(RESULTS)
    del old["CAPI-SDRi"]["ci95"], old["label_metrics"]["accuracy_mix_ci95"], old["bootstrap"]
    text = card(results=old)
    assert text.count(mc.NO_INTERVAL) == 3
    assert [m["value"] for m in header(text)["model-index"][0]["results"][0]["metrics"]] == [8.48912, 60.714, 70.394]
    null = copy.deepcopy(RESULTS)
    null["CAPI-SDRi"]["ci95"] = None                       # s5_score had nothing to resample
    assert f"| CAPI-SDRi (dB) | 8.489 | {mc.NO_VALUES} |" in card(results=null)
    none = card(results=None)
    assert "model-index" not in header(none) and "No dev-test scores were packed" in none


def test_a_malformed_interval_is_one_error():
    bad = copy.deepcopy(RESULTS)
    bad["CAPI-SDRi"]["ci95"] = [1.0, float("nan")]
    with pytest.raises(S5InputError, match="ci95 must be"):
        card(results=bad)


def test_names_are_escaped_in_markdown_and_data_in_yaml():
    name = "sys*1_<b>x</b>|[a](b)```"
    scored = copy.deepcopy(RESULTS)
    scored["config"]["system"] = "<script>alert(1)</script>"
    text = card(name, results=scored, calibration={"objective": "accuracy", "min_probability": 0.2})
    body = prose(text)
    assert "<b>" not in body and "<script>" not in body and "|[a](b)" not in body
    assert "# DCASE2026 Task 4 S5 system sys\\*1\\_&lt;b&gt;x&lt;/b&gt;\\|\\[a\\](b)\\`\\`\\`" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert header(text)["model-index"][0]["name"] == name          # the raw name, as YAML data
    assert "calibrated per-class thresholds" in body and "objective accuracy" in body
    # the backticks in the name cannot close the code fences of the usage section: it stays code
    assert "\n````python\n" in text and "\n````sh\n" in text and "packed_model" not in body
    assert "\n./run.sh --stage 7 --stop-stage 8 --packed_model 'sys*1_<b>x</b>|[a](b)```.zip'\n````\n" in text
