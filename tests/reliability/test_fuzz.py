"""Seeded fuzz test of the file formats the recipe reads.

Each format gets random corruptions of a valid file (wrong types, missing and extra
keys, out-of-range and non-finite numbers, truncation, for the data dir: broken lines).
Each corrupted file goes through the entry point that reads it, in-process (a few through
real subprocesses), and must end in one of two ways:

* exit 2 with exactly one ``ERROR:`` line (and no traceback), or
* success with a correct result: the result of the uncorrupted file, or a documented
  meaning of the corruption (:data:`DOCUMENTED` e.g. an absent ``int_events`` list
  means no interference).

Anything else (a traceback, another exception, a different result) fails the test.
"""
from __future__ import annotations

import copy
import json
import math
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, List, Sequence, Tuple

import numpy as np
import pytest
import torch
import yaml

from espnet2_ext.bin import s5_synthesize, s5_tag_train
from espnet2_ext.bin.s5_submission import load_dev_results
from espnet2_ext.errors import cli_main
from espnet2_ext.s5 import estimates as est_io
from espnet2_ext.synth.dataset import DataDirDataset
from espnet2_ext.synth.sampler import DATASET_KEYS, GENERATOR_DEFAULTS
from reliability_cases import covers
from reliability_tools import PY, env, same_files, traceback_sections, train_args

SEED = 20260430
WRONG_TYPES = ("fuzz", None, [], {}, True, [1, 2])
NON_FINITE = (math.nan, math.inf, -math.inf)
OUT_OF_RANGE = (-1, -1e9, 1e9)


# ------------------------------------------------------------------------------ corruptions
def _nodes(tree: Any, path: Tuple = ()) -> List[Tuple]:
    """Paths of every node below the root (dict keys and list indices)."""
    out = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for k, v in items:
        out.append(path + (k,))
        out.extend(_nodes(v, path + (k,)))
    return out


def _get(tree: Any, path: Sequence) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def corrupt_tree(tree: Any, rng: random.Random, signed: Sequence[str] = (), skip: Sequence[str] = (),
                 out_of_range: Sequence[float] = OUT_OF_RANGE) -> Tuple[Any, str, Tuple]:
    """One random corruption of a JSON/YAML tree: (new tree, kind, path).

    ``signed``: keys whose numbers may be negative or large (no out-of-range corruption);
    ``skip``: keys whose subtree is left alone; ``out_of_range``: the values tried.
    """
    tree = copy.deepcopy(tree)
    nodes = [p for p in _nodes(tree) if not any(k in skip for k in p)]
    numbers = [p for p in nodes if _is_number(_get(tree, p))]
    ranged = [p for p in numbers if not any(k in signed for k in p)]
    containers = [p for p in [()] + nodes if isinstance(_get(tree, p), (dict, list))]
    kind = rng.choice(["type", "type", "delete", "extra", "nonfinite", "range"])
    if kind == "nonfinite" and numbers:
        path = rng.choice(numbers)
        value = rng.choice(NON_FINITE)
    elif kind == "range" and ranged:
        path = rng.choice(ranged)
        value = rng.choice(out_of_range)
        value = int(value) if isinstance(_get(tree, path), int) else float(value)
    elif kind == "extra":
        path = rng.choice(containers)
        node = _get(tree, path)
        if isinstance(node, dict):
            node["fuzz_extra_key"] = rng.choice(WRONG_TYPES)
        else:
            node.append(rng.choice(WRONG_TYPES))
        return tree, kind, path
    elif kind == "delete" and nodes:
        path = rng.choice(nodes)
        del _get(tree, path[:-1])[path[-1]]
        return tree, kind, path
    else:
        kind = "type"
        path = rng.choice(nodes)
        old = _get(tree, path)
        value = rng.choice([v for v in WRONG_TYPES if type(v) is not type(old)])
    _get(tree, path[:-1])[path[-1]] = copy.deepcopy(value)
    return tree, kind, path


def write_corrupt(path: Path, tree: Any, rng: random.Random, dump: Callable[[Any], str], **kw) -> Tuple[str, Tuple]:
    """Write a corrupted ``tree`` to ``path`` (1 in 8: the valid text truncated)."""
    if rng.random() < 0.125:
        text = dump(tree)
        path.write_text(text[: rng.randrange(0, max(len(text) - 1, 1))])
        return "truncate", ()
    bad, kind, where = corrupt_tree(tree, rng, **kw)
    path.write_text(dump(bad))
    return kind, where


# ------------------------------------------------------------------------------ outcome
def run_entry(call: Callable[[], Any], capsys) -> Tuple[int, str, Any]:
    """Call ``call`` as a CLI (cli_main): (exit status, stderr, result)."""
    capsys.readouterr()
    result = None
    try:
        result = cli_main(call)()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    err = capsys.readouterr().err
    return code, err, result


def assert_clean_error(code: int, err: str, case: str) -> None:
    assert "Traceback" not in err, f"{case}: traceback\n{err}"
    assert code == 2, f"{case}: exit {code}\n{err}"
    errors = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, f"{case}: expected one ERROR line, got\n{err}"


def check_case(case: str, code: int, err: str, ok: Callable[[], bool]) -> str:
    """The fuzz oracle: a clean error, or exit 0 and ``ok()`` (a correct result)."""
    if code == 0:
        assert "Traceback" not in err, f"{case}: traceback\n{err}"
        assert ok(), f"{case}: exit 0 with a wrong result"
        return "accepted"
    assert_clean_error(code, err, case)
    return "rejected"


def dump_json(tree: Any) -> str:
    return json.dumps(tree, indent=1)


# ------------------------------------------------------------------------------ estimates.json
@pytest.fixture(scope="module")
def estimates_setup(test_set, tmp_path_factory):
    """Oracle targets as estimates, and an estimates.json listing them with random probabilities."""
    names = est_io.list_soundscapes(test_set.soundscape)
    index = est_io.index_sources(test_set.oracle_target, names)
    rng = random.Random(SEED)
    entries = {s: [{"filename": f.filename, "label": f.label, "probability": round(rng.random(), 6)}
                   for f in files] for s, files in index.items()}
    return names, index, entries, tmp_path_factory.mktemp("fuzz_estimates")


@covers("fuzz_estimates_json")
def test_fuzz_estimates_json(estimates_setup, capsys):
    names, index, entries, folder = estimates_setup
    good = folder / "estimates.json"
    good.write_text(dump_json(entries))
    reference = est_io.check_estimates_json(est_io.read_estimates_json(good), index, good)
    rng = random.Random(SEED + 1)
    seen = {"accepted": 0, "rejected": 0}
    for i in range(120):
        path = folder / f"estimates_{i}.json"
        kind, where = write_corrupt(path, entries, rng, dump_json)
        code, err, probs = run_entry(lambda: est_io.check_estimates_json(
            est_io.read_estimates_json(path), index, path, require_every_soundscape=True), capsys)
        seen[check_case(f"estimates #{i} {kind} {where}", code, err, lambda: probs == reference)] += 1
    assert seen["rejected"] > 50


# ------------------------------------------------------------------------------ results.json
def _results_view(results: dict) -> tuple:
    """What the submission takes from a results.json."""
    acc = results.get("label_metrics") or {}
    return (results["CAPI-SDRi"]["mean"], acc.get("accuracy_mix"), acc.get("accuracy_src"),
            results.get("nparams"), [d["soundscape"] for d in results["details"]])


@covers("fuzz_results_json")
def test_fuzz_results_json(test_set, tmp_path, capsys):
    names = est_io.list_soundscapes(test_set.soundscape)
    results = {"CAPI-SDRi": {"mean": 7.25, "per_class": {"Speech": {"mean": 6.5}}},
               "label_metrics": {"accuracy_mix": 66.7, "accuracy_src": 75.0}, "nparams": 1234567,
               "details": [{"soundscape": n, "capi_sdri": 1.5 * k} for k, n in enumerate(names)],
               "config": {"estimate_dir": "/x/y"}}
    rng = random.Random(SEED + 2)
    seen = {"accepted": 0, "rejected": 0}
    for i in range(80):
        path = tmp_path / f"results_{i}.json"
        kind, where = write_corrupt(path, results, rng, dump_json, signed=("mean", "capi_sdri", "nparams"))
        code, err, got = run_entry(lambda: load_dev_results(path, test_set.soundscape), capsys)
        # a NaN anywhere is refused: the file is copied into the submission as it is
        seen[check_case(f"results #{i} {kind} {where}", code, err,
                        lambda: (_results_view(got) == _results_view(results) or (kind, where) == ("delete", ("nparams",)))
                        and "NaN" not in path.read_text() and "Infinity" not in path.read_text())] += 1
    assert seen["rejected"] > 30


# ------------------------------------------------------------------------------ scene metadata
#: corruptions whose meaning is documented: an absent bg/int event list = no such events
DOCUMENTED = {("delete", ("bg_events",)), ("delete", ("int_events",))}


def render(metadata: Path, corpus: Path, out: Path) -> Callable[[], None]:
    listing_file = metadata.parent / f"{metadata.stem}_list.json"
    listing_file.write_text(json.dumps([{"metadata_path": metadata.name}]))
    return lambda: s5_synthesize.main(["render", "--metadata_list", str(listing_file), "--corpus_root",
                                       str(corpus), "--out_dir", str(out)])


def _same_render(out: Path, ref: Path) -> bool:
    try:
        same_files(out, ref)
    except AssertionError:
        return False
    return True


@covers("fuzz_scene_metadata")
def test_fuzz_scene_metadata(corpus, tmp_path, capsys):
    src = corpus / "dev_set" / "metadata" / "valid" / "valid_0000.json"
    meta = json.loads(src.read_text())
    folder = tmp_path / "meta"
    folder.mkdir()
    (folder / "scene.json").write_text(src.read_text())
    ref = tmp_path / "ref"
    code, err, _ = run_entry(render(folder / "scene.json", corpus, ref), capsys)
    assert code == 0, err
    rng = random.Random(SEED + 3)
    seen = {"accepted": 0, "rejected": 0}
    for i in range(80):
        path = folder / f"scene_{i}.json"
        kind, where = write_corrupt(path, meta, rng, dump_json,
                                    signed=("ref_db", "snr", "event_position"))
        out = tmp_path / f"out_{i}"
        code, err, _ = run_entry(render(path, corpus, out), capsys)
        seen[check_case(f"scene #{i} {kind} {where}", code, err,
                        lambda: _same_render(out, ref) or (kind, where) in DOCUMENTED)] += 1
        shutil.rmtree(out, ignore_errors=True)
    assert seen["rejected"] > 30


# ------------------------------------------------------------------------------ data dir
def _items(data_dir: Path) -> dict:
    ds = DataDirDataset(data_dir, label_vector_mode="concat", return_source=True)
    return {item["name"]: item for item in (ds[i] for i in range(len(ds)))}


def _same_items(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for name in a:
        if a[name].keys() != b[name].keys():
            return False
        for k, v in a[name].items():
            same = torch.equal(v, b[name][k]) if isinstance(v, torch.Tensor) else (
                np.array_equal(v, b[name][k]) if isinstance(v, np.ndarray) else v == b[name][k])
            if not same:
                return False
    return True


def corrupt_lines(text: str, rng: random.Random, valid_labels: Sequence[str]) -> Tuple[str, str]:
    """One random corruption of a Kaldi-style table."""
    lines = text.splitlines()
    kind = rng.choice(["drop", "duplicate", "swap_fields", "garbage", "bad_path", "bad_label",
                       "dash", "truncate", "empty", "one_field", "extra_field"])
    k = rng.randrange(len(lines))
    fields = lines[k].split()
    if kind == "drop":
        del lines[k]
    elif kind == "duplicate":
        lines.insert(k, lines[k])
    elif kind == "swap_fields":
        lines[k] = " ".join(fields[::-1])
    elif kind == "garbage":
        lines[k] = "\x00\x01 \u00e9\u00e8 NaN"
    elif kind == "bad_path":
        lines[k] = f"{fields[0]} /nowhere/x.wav"
    elif kind == "bad_label":
        lines[k] = " ".join(fields[:1] + ["Dog"] + fields[2:])
    elif kind == "dash":
        lines[k] = f"{fields[0]} -"
    elif kind == "truncate":
        return text[: rng.randrange(len(text))], kind
    elif kind == "empty":
        return "", kind
    elif kind == "one_field":
        lines[k] = fields[0]
    else:
        lines[k] = lines[k] + " " + rng.choice(valid_labels)
    return "".join(line + "\n" for line in lines), kind


@covers("fuzz_data_dir")
def test_fuzz_data_dir(valid_dir, tmp_path, capsys):
    reference = _items(valid_dir)
    files = [f for f in ("wav.scp", "labels", "spk1.scp", "spk2.scp", "spk3.scp") if (valid_dir / f).is_file()]
    rng = random.Random(SEED + 4)
    seen = {"accepted": 0, "rejected": 0}
    for i in range(60):
        data = tmp_path / f"dd_{i}"
        shutil.copytree(valid_dir, data, ignore=shutil.ignore_patterns("soundscape", "oracle_target"))
        name = rng.choice(files)
        text, kind = corrupt_lines((data / name).read_text(), rng, ["Speech", "silence"])
        (data / name).write_text(text)
        code, err, items = run_entry(lambda: _items(data), capsys)
        seen[check_case(f"data dir #{i} {name} {kind}", code, err,
                        lambda: _same_items(items, reference))] += 1
        shutil.rmtree(data)
    assert seen["rejected"] > 20


# ------------------------------------------------------------------------------ config YAML
#: keys with a documented default: every top-level option (espnet2's defaults), and these
OPTIONAL_CONF_KEYS = set(GENERATOR_DEFAULTS) | set(DATASET_KEYS) | {
    "direct_range_ms", "background_dir", "interference_dir", "verbose", "module", "main", "dry", "metadata",
    "dry_channel"}


@covers("fuzz_config_yaml")
def test_fuzz_config_yaml(tag_config, corpus, tmp_path, capsys):
    """Training configs: every corruption must be refused before training starts, or give
    the same parsed options (the checks that follow the config, here a missing valid data dir,
    report the same error as for the valid config)."""
    from espnet2_ext.tasks.s5_tag import S5TaggingTask

    config = yaml.safe_load(tag_config.read_text())
    nowhere = tmp_path / "no_valid_dir"
    parser = S5TaggingTask.get_parser()

    def parsed(path: Path) -> dict:
        ns = vars(parser.parse_args(train_args(path, tmp_path / "exp", nowhere, corpus)))
        return {k: v for k, v in ns.items() if k != "config"}

    code, ref_err, _ = run_entry(lambda: s5_tag_train.main(train_args(tag_config, tmp_path / "exp", nowhere,
                                                                       corpus)), capsys)
    assert_clean_error(code, ref_err, "valid config")
    reference = parsed(tag_config)
    rng = random.Random(SEED + 5)
    seen = {"accepted": 0, "rejected": 0}
    # the model's own options (tagger_conf, optim_conf, ...) are checked by the model classes
    skip = ("tagger_conf", "optim_conf", "scheduler_conf", "loss_conf", "init_param", "best_model_criterion")
    for i in range(60):
        path = tmp_path / f"config_{i}.yaml"
        kind, where = write_corrupt(path, config, rng, yaml.safe_dump, skip=skip,
                                    out_of_range=(-1, -1e9),     # large values are valid options here
                                    signed=("ref_db", "snr_range", "inteference_snr_range", "interference_snr_range",
                                            "grad_clip", "grad_clip_type"))
        code, err, _ = run_entry(lambda: s5_tag_train.main(train_args(path, tmp_path / "exp", nowhere, corpus)),
                                 capsys)
        case = f"config #{i} {kind} {where}"
        assert_clean_error(code, err, case)
        assert not (tmp_path / "exp").exists(), case
        if err == ref_err:       # passed every config check: must mean the same, or a documented default
            same = parsed(path) == reference
            assert same or kind == "delete" and (len(where) == 1 or where[-1] in OPTIONAL_CONF_KEYS), case
            seen["accepted"] += 1
        else:
            seen["rejected"] += 1
    assert seen["rejected"] > 20


# ------------------------------------------------------------------------------ subprocesses
@covers("fuzz_subprocess")
def test_fuzz_through_subprocesses(estimates_setup, test_set, tmp_path):
    """A few corruptions through the real CLIs: one ERROR line, exit 2, no traceback."""
    names, index, entries, _ = estimates_setup
    est_dir = Path(shutil.copytree(test_set.oracle_target, tmp_path / "est"))
    bad = copy.deepcopy(entries)
    bad[names[0]][0]["probability"] = math.nan
    (est_dir / "estimates.json").write_text(json.dumps(bad))
    res = subprocess.run([PY, "-m", "espnet2_ext.bin.s5_score", "--soundscape_dir", str(test_set.soundscape),
                          "--oracle_target_dir", str(test_set.oracle_target), "--estimate_dir", str(est_dir),
                          "--output_dir", str(tmp_path / "score"), "--report", "false"],
                         capture_output=True, text=True, env=env(), timeout=300)
    assert_clean_error(res.returncode, res.stderr, "s5_score NaN probability")
    assert "probability" in res.stderr and "NaN" in res.stderr.replace("nan", "NaN")
    assert not (tmp_path / "score").exists()


@covers("no_traceback_anywhere")
def test_traceback_in_any_case_output_fails_it(tmp_path):
    """The conftest hook fails a catalogue test whose captured stdout/stderr holds a traceback.

    An inner pytest run with the hook of tests/reliability/conftest.py: a marked test that
    prints a traceback on stderr must fail through the hook, while a marked test with clean
    output, and an unmarked one that prints a traceback, pass."""
    import textwrap

    here = Path(__file__).resolve().parent
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        import importlib.util, sys
        sys.path[:0] = [{str(here.parent)!r}, {str(here)!r}]
        spec = importlib.util.spec_from_file_location("reliability_conftest", {str(here / "conftest.py")!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        pytest_runtest_makereport = module.pytest_runtest_makereport
        """))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""
        import sys

        def test_marked_with_traceback():
            print("ERROR: x\\nTraceback (most recent call last):", file=sys.stderr)
        test_marked_with_traceback.case_ids = ("inner_bad",)

        def test_marked_clean():
            print("ERROR: a clean one-line error", file=sys.stderr)
        test_marked_clean.case_ids = ("inner_ok",)

        def test_unmarked_with_traceback():
            print("Traceback (most recent call last):", file=sys.stderr)
        """))
    res = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, env=env(), timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "1 failed, 2 passed" in out, out
    assert "FAILED test_inner.py::test_marked_with_traceback" in out, out
    assert "'Traceback' in ['Captured stderr call'] of catalogue case(s) inner_bad" in out, out
    sections = [("Captured stdout call", "ok\n"), ("Captured log call", "Traceback (most recent call last):"),
                ("Captured stderr call", "ERROR: x\nTraceback (most recent call last):\n")]
    assert traceback_sections(sections) == ["Captured stderr call"]
    assert traceback_sections(sections[:2]) == []
