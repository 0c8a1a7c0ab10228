"""The reliability catalogue: every bad input, interruption and determinism case we test.

Each case has an id, the tool it exercises, what goes wrong and the outcome the test
checks. Tests declare the case(s) they cover with ``@covers("id", ...)``;
``test_report.py`` checks that the tests cover exactly these ids and that
``REPORT.md`` is :func:`render_report` of this table (regenerate it with
``python tests/reliability/reliability_cases.py > tests/reliability/REPORT.md``).

Unless said otherwise a *bad input* outcome means: exit status 2, one line
``ERROR: <message>`` on stderr naming the file/item and the fix, and no output
written (no output folder, or the same files as before the call).
"""
from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Tuple


class Case(NamedTuple):
    id: str
    kind: str      # "bad input" | "interruption" | "determinism" | "attack"
    tool: str      # the CLI / script exercised
    what: str      # what goes wrong
    outcome: str   # what the test checks


BAD, INT, DET, SEC = "bad input", "interruption", "determinism", "attack"

CASES: List[Case] = [
    # ----------------------------------------------------------------- decoding (stage 7)
    Case("soundscape_16k", BAD, "s5_inference", "a 16 kHz soundscape among 32 kHz ones",
         "names the file, '16000 Hz', says to convert it with sox; nothing written"),
    Case("soundscape_2ch", BAD, "s5_inference", "a 2-channel soundscape",
         "names the file, '2 ch', needs 4 channels; nothing written"),
    Case("soundscape_corrupt", BAD, "s5_inference", "random bytes in a .wav",
         "'cannot read soundscape <file>'; nothing written"),
    Case("soundscape_truncated", BAD, "s5_inference", "a soundscape cut in the middle of its data",
         "'<file> is truncated', re-create or re-download; nothing written (was decoded silently)"),
    Case("soundscape_empty", BAD, "s5_inference", "a soundscape with 0 samples",
         "'<file> is empty' before any model is loaded; nothing written"),
    Case("soundscape_nan", BAD, "s5_inference", "a float soundscape with NaN and Inf samples",
         "'contains NaN or Inf samples' naming the file; nothing written"),
    Case("soundscape_dir_empty", BAD, "s5_inference", "a soundscape folder without .wav files",
         "'no .wav soundscapes in <folder>'; nothing written"),
    Case("decode_job_out_of_range", BAD, "s5_inference", "--job 5 --nj 4",
         "'--job must be in 1..4'; nothing written"),
    Case("merge_before_jobs_done", BAD, "s5_inference --merge_only",
         "merging while a soundscape has no record yet",
         "'1 soundscapes not decoded yet ... rerun the decoding jobs'; no estimates.json"),
    Case("tagger_given_as_separator", BAD, "s5_inference",
         "a tagger's model file (with its config.yaml) given as --separator_ckpt",
         "'<file> is not an S5 separator model: its config ... is that of a tagger model' "
         "(was an AttributeError traceback); nothing written"),
    Case("checkpoint_keys_mismatch", BAD, "s5_inference",
         "a tagger's weights beside a separator config.yaml",
         "'checkpoint <file> does not match ESPnetS5SeparatorModel', lists missing/unexpected "
         "keys; nothing written"),
    Case("checkpoint_truncated", BAD, "s5_inference", "a separator .pth cut in half",
         "'cannot read checkpoint <file> ... Is it a complete PyTorch file?'; nothing written"),
    Case("model_config_missing", BAD, "s5_inference", "an espnet2 model file without config.yaml",
         "'<config.yaml> is missing; pass the training config.yaml'; nothing written"),
    Case("m2d_wrong_folder_name", BAD, "s5_inference",
         "the M2D weight file moved to a folder named 'm2d_weights'",
         "names the folder, says to keep the release folder name; nothing written"),
    Case("disk_full_sf_write", BAD, "s5_inference",
         "disk full while writing an estimate (soundfile.write raises ENOSPC)",
         "'no space left on the device while writing <file>'; no file under a final name "
         "is truncated, no temporary left, no estimates.json; after freeing space the rerun "
         "gives the same outputs as a run that never failed"),
    Case("disk_full_rename", BAD, "s5_inference",
         "disk full at the rename of a finished estimate (os.replace raises ENOSPC)",
         "same as disk_full_sf_write"),
    Case("disk_full_real_tmpfs", BAD, "fileio writers",
         "a real full file system (64 KiB tmpfs) under write_wav / write_json / write_torch",
         "S5InputError 'no space left on the device while writing <file>' although libsndfile "
         "and torch hide the errno; nothing under the final names, no temporaries"),
    # ----------------------------------------------------------------- scoring (stage 8)
    Case("oracle_unknown_label", BAD, "s5_score", "oracle target test_0000_0_Dog.wav",
         "'unknown label 'Dog'' naming the file and the 18 classes; no score folder"),
    Case("estimate_bad_name", BAD, "s5_score", "an estimate named test_0000-Speech.wav",
         "'the name matches no soundscape', expected <soundscape>_<i>_<Label>.wav; no score folder"),
    Case("estimate_wrong_length", BAD, "s5_score", "an estimate 1 s shorter than its soundscape",
         "'has N samples but its soundscape has M'; no score folder"),
    Case("estimates_json_nan_probability", BAD, "s5_submission",
         "estimates.json with a NaN probability",
         "'<file>: ['<soundscape>'][0].probability = nan is not a finite number' (was written into "
         "the submission's JSON, which then no longer parsed); no package"),
    Case("results_json_nan", BAD, "s5_submission", "the --dev_results results.json with CAPI-SDRi mean NaN",
         "'cannot read --dev_results <file>: NaN is not a valid JSON number' (was copied into the "
         "package); no package"),
    Case("estimate_inf", BAD, "s5_score", "an estimate with an Inf sample",
         "'contains NaN or Inf samples' naming the file; no score folder"),
    # ----------------------------------------------------------------- synthesis (stage 3)
    Case("metadata_missing_key", BAD, "s5_synthesize render", "valid_0000.json without 'fg_events'",
         "'scene metadata <file> is malformed (missing 'fg_events')' (was rendered without "
         "targets); nothing written"),
    Case("metadata_event_missing_key", BAD, "s5_synthesize render",
         "an fg event without 'label'", "names the metadata file and the missing key; nothing written"),
    Case("metadata_unknown_label", BAD, "s5_synthesize render", "an fg event labelled 'Dog'",
         "names the metadata file and the 18 classes (was rendered as ..._Dog.wav); nothing written"),
    Case("metadata_negative_onset", BAD, "s5_synthesize render", "an fg event with event_time -0.5",
         "'scene metadata <file>: fg_events[0].event_time = -0.5 is outside [0, <duration>)' (was "
         "rendered as if valid); nothing written"),
    Case("metadata_snr_string", BAD, "s5_synthesize render", "an fg event with snr \"12\" (a string)",
         "'fg_events[0].snr = '12' is not a number' naming the file (was a traceback); nothing written"),
    Case("datadir_labels_unknown", BAD, "s5_tag_train --valid_data_dir",
         "a labels row of the valid data dir with the label 'Dog'",
         "'<dir>/labels: <id> has the unknown label 'Dog'; re-create the data dir' (was a KeyError "
         "traceback in a data-loading worker); no exp folder"),
    Case("metadata_missing_source", BAD, "s5_synthesize render",
         "an fg event whose source file does not exist",
         "'audio file not found: <file> ... (while rendering <metadata>)'; nothing written"),
    Case("too_many_oracle_targets", BAD, "s5_synthesize datadir", "4 oracle targets for one soundscape",
         "names the soundscape and 'at most 3'; no data-dir file written"),
    # ----------------------------------------------------------------- corpus layout (stages 1-2)
    Case("sofa_2_receivers", BAD, "s5_verify_layout", "a SOFA room with 2 receivers",
         "'room_ir <file>: 2 receivers, expected 4'"),
    Case("empty_class_folder", BAD, "s5_verify_layout", "sound_event/train/Speech without .wav files",
         "'empty class folder <folder>'"),
    Case("noise_too_short", BAD, "s5_verify_layout", "a 0.5 s noise file",
         "'<file>: 0.500 s long, shorter than the required 1 s'"),
    Case("event_wrong_rate", BAD, "s5_verify_layout", "a 16 kHz sound event",
         "'<file>: sample rate 16000 Hz, expected 32000 Hz'"),
    Case("event_truncated", BAD, "s5_verify_layout", "a sound event cut in the middle of its data",
         "'<file>: truncated' (was accepted)"),
    # ----------------------------------------------------------------- training (stages 4-6)
    Case("config_unknown_key", BAD, "s5_tag_train", "a config YAML with the key 'foo_bar'",
         "'config <yaml>: unrecognized arguments: foo_bar' as one ERROR line (was espnet2's usage "
         "message); no exp folder"),
    Case("config_not_yaml", BAD, "s5_tag_train", "a config file that is not valid YAML",
         "'config <yaml> is not valid YAML' (was a yaml traceback); no exp folder"),
    Case("config_not_mapping", BAD, "s5_tag_train", "a config YAML whose top level is a list",
         "'config <yaml>: the top level is list, expected a mapping' (was espnet2's message "
         "without the file name); no exp folder"),
    Case("config_wrong_value_type", BAD, "s5_tag_train", "batch_size: 'four' in the config YAML",
         "'config <yaml>: batch_size = 'four' is not an integer' (was a traceback in the "
         "trainer after the exp folder was written); no exp folder"),
    Case("train_data_conf_nan", BAD, "s5_tag_train", "train_data_conf.dupse_rate: .nan",
         "'config <yaml>: train_data_conf.dupse_rate = nan is not a finite number' (was accepted); "
         "no exp folder"),
    Case("missing_valid_data_dir", BAD, "s5_tag_train", "--valid_data_dir pointing nowhere",
         "'<dir>/wav.scp not found; run stage 3' (was a traceback after config.yaml was "
         "written); no exp folder"),
    Case("resume_damaged_checkpoint", BAD, "s5_tag_train --resume true",
         "a truncated checkpoint.pth in the exp folder",
         "'cannot resume training from <exp>/checkpoint.pth ... Delete it to restart'; exit 2, "
         "the file is left for the user to inspect"),
    # ----------------------------------------------------------------- fuzz (seeded random corruptions)
    Case("fuzz_estimates_json", BAD, "s5_score / s5_submission (estimates.json reader)",
         "120 random corruptions of estimates.json (wrong types, missing/extra keys, NaN/Inf, "
         "out-of-range numbers, truncation)",
         "each: one ERROR line and exit 2, or exit 0 with the probabilities of the valid file"),
    Case("fuzz_results_json", BAD, "s5_submission --dev_results", "80 random corruptions of a results.json",
         "each: one ERROR line and exit 2, or exit 0 with the same values copied (never NaN)"),
    Case("fuzz_scene_metadata", BAD, "s5_synthesize render", "80 random corruptions of a scene metadata JSON",
         "each: one ERROR line and exit 2, or exit 0 with WAVs equal to the valid file's render "
         "(or the documented meaning: an absent bg/int event list = none)"),
    Case("fuzz_data_dir", BAD, "DataDirDataset (stage-3 data dir)",
         "60 random line corruptions of wav.scp, labels, spk*.scp",
         "each: one ERROR line and exit 2, or exit 0 with the valid data dir's items"),
    Case("fuzz_config_yaml", BAD, "s5_tag_train --config", "60 random corruptions of a training config YAML",
         "each: one ERROR line and exit 2 before anything is written; passing the config checks "
         "means the same options (or a documented default)"),
    Case("fuzz_subprocess", BAD, "s5_score (subprocess)", "estimates.json with a NaN probability",
         "one ERROR line, exit 2, no traceback, no score folder"),
    Case("no_traceback_anywhere", BAD, "every catalogue test",
         "any case whose output (captured stdout/stderr) holds 'Traceback'",
         "the test of that case fails (conftest hook over all @covers tests)"),
    # ----------------------------------------------------------------- recipe
    Case("run_sh_stage_10", BAD, "run.sh", "./run.sh --stage 10",
         "'stages are 1..9', non-zero exit; no data/ or exp/ created"),
    # ----------------------------------------------------------------- interruptions
    Case("train_kill_random", INT, "s5_tag_train",
         "SIGKILL at a random point of epoch 2 (of 3), then the same command again",
         "resumes from checkpoint.pth; final model, optimizer state and epoch files equal to "
         "an uninterrupted run's, tensor for tensor"),
    Case("train_kill_in_checkpoint_save", INT, "s5_tag_train",
         "SIGKILL half-way through writing checkpoint.pth of epoch 2",
         "checkpoint.pth stays the complete epoch-1 file (atomic save); the rerun ends with the "
         "uninterrupted run's weights"),
    Case("train_kill_before_epoch_file", INT, "s5_tag_train",
         "SIGKILL after checkpoint.pth of epoch 2, before 2epoch.pth is written",
         "the rerun re-creates 2epoch.pth and the links; same final weights; "
         "valid.loss.best.pth points to an existing file"),
    Case("decode_kill_random", INT, "s5_inference",
         "SIGKILL after 1 or 2 (random) of 3 soundscapes are done, then the same command again",
         "same output files (WAVs sample for sample), byte-identical estimates.json and records "
         "as an uninterrupted run"),
    Case("decode_kill_in_wav_write", INT, "s5_inference",
         "SIGKILL half-way through writing an estimate wav",
         "no truncated file under a final name; the rerun completes identically and removes "
         "the hidden temporary"),
    Case("synth_kill_between_files", INT, "s5_synthesize render",
         "SIGKILL half-way through the oracle targets of a mixture",
         "the rerun renders the mixture again; outputs byte-identical to an uninterrupted run, "
         "no extra *.wav"),
    Case("download_kill", INT, "corpus.download.fetch",
         "SIGKILL of the downloader while a slow local HTTP server sends the file",
         "the .part file is kept; the rerun asks for the rest (Range), md5 verified, file identical"),
    # ----------------------------------------------------------------- determinism
    Case("same_seed_training_items", DET, "GenerateDataset",
         "two datasets with the same seed, epochs 1-2",
         "bit-identical mixtures, label vectors and dry sources; another seed differs"),
    Case("same_seed_stage3", DET, "s5_synthesize render",
         "stage-3 rendering of the valid list twice", "byte-identical wav files"),
    Case("same_seed_training", DET, "s5_tag_train", "two identical short trainings on CPU",
         "identical final weights"),
]

#: Security: files and option values from others (crafted on purpose). Unless said otherwise
#: the outcome is: exit 2 with one ``ERROR:`` line naming the file or option, and no marker
#: file (the payload never ran) and no file written anywhere outside the tool's own folder.
SECURITY_CASES: List[Case] = [
    # ----------------------------------------------------------------- model files never run code
    Case("pickle_separator_model", SEC, "s5_inference --separator_ckpt",
         "an espnet2 separator model file (config.yaml beside it) whose first weight pickles as "
         "`os.system('touch MARKER')`",
         "`refused to load <file>: it asks for the Python object 'posix.system' ... could run code`; "
         "exit 2, no marker, no estimates (was run by torch.load(weights_only=False))"),
    Case("pickle_tagger_model", SEC, "s5_inference --tagger_ckpt",
         "an espnet2 tagger model file whose first weight pickles as `subprocess.call(['touch', MARKER])`",
         "`refused to load <file>: ... 'subprocess.call'`; exit 2, no marker, no estimates"),
    Case("pickle_official_ckpt", SEC, "s5_inference --separator_ckpt resunetk.ckpt",
         "an official-style Lightning checkpoint whose ModelCheckpoint callback state holds the "
         "`os.system` payload as its best score",
         "`refused to load <file>: ... 'posix.system'`; exit 2, no marker, no estimates"),
    Case("pickle_m2d_weights", SEC, "s5_inference --m2d_weight_file",
         "an M2D weight file (release folder name, `{'model': ...}` layout) with a `subprocess.call` "
         "payload among its tensors",
         "`refused to load <file>: ... 'subprocess.call'`; exit 2, no marker, no estimates"),
    Case("pickle_checkpoint_summary", SEC, "s5_train_summary --exp",
         "<exp>/checkpoint.pth whose reporter statistics hold the `os.system` payload",
         "`refused to load <exp>/checkpoint.pth: ... 'posix.system'`; exit 2, no marker, nothing cached"),
    Case("pickle_checkpoint_stage5_init", SEC, "s5_stage5_init --official_resume true",
         "the stage-4 <exp>/checkpoint.pth carrying a `subprocess.call` payload",
         "`refused to load <src_exp>/checkpoint.pth: ... 'subprocess.call'`; exit 2, no marker, no "
         "stage-5 checkpoint.pth"),
    Case("pickle_init_param", SEC, "s5_tag_train --init_param",
         "an --init_param file whose tensor pickles as `os.system('touch MARKER')` (espnet2 loads it "
         "with weights_only=False)",
         "`refused to load <file>: ... 'posix.system'`; exit 2, no marker, no epoch trained"),
    Case("pickle_resume_checkpoint", SEC, "s5_tag_train --resume true",
         "<exp>/checkpoint.pth whose optimizer state is a `subprocess.call` payload (espnet2's resume "
         "loads it with weights_only=False)",
         "`refused to load <exp>/checkpoint.pth: ... 'subprocess.call'` (not called damaged); exit 2, no "
         "marker, the file left as it was"),
    # ----------------------------------------------------------------- archives stay in their folder
    Case("archive_member_dotdot", SEC, "s5_pack unpack",
         "a .zip / .tgz / .tar member `../escape.txt` or `report/../../../../escape.txt`",
         "`<archive>: member '../escape.txt' climbs out of the folder with '..'`; nothing created anywhere (the "
         "out dir, its parents, outside); the archive made by stage 9 then unpacks to the same printed lines"),
    Case("archive_member_absolute", SEC, "s5_pack unpack", "a .zip / .tar member `/<tmp>/outside/absolute.txt`",
         "`member '/...' is an absolute path`; nothing created anywhere; the real archive still unpacks"),
    Case("archive_member_symlink", SEC, "s5_pack unpack",
         "a symlink member to /etc/passwd (zip: Unix type in the external attributes; tar), and a .tgz "
         "link `report/media2` to a folder outside followed by a file `report/media2/planted.txt`",
         "`member 'report/leak' is a symbolic link`; nothing created anywhere; the real archive still unpacks"),
    Case("archive_member_hardlink", SEC, "s5_pack unpack",
         "a .tar / .tgz hard-link member to /etc/passwd or `../../../outside/outside.pth`",
         "`member 'report/leak' is a hard link`; nothing created anywhere; the real archive still unpacks"),
    Case("archive_member_special", SEC, "s5_pack unpack",
         "a FIFO (.tar), a character device (.tgz, and .zip by its Unix type)",
         "`member 'report/dev' is a FIFO` / `a character device` / `a special file`; nothing created anywhere"),
    Case("archive_member_duplicate", SEC, "s5_pack unpack",
         "a second `tagger/model.pth` (.zip, .tar), a folder entry `report/index.html/` beside the file, "
         "a member `report/index.html/x` under the file",
         "`member 'tagger/model.pth' occurs twice` / `is a file and also a folder of other members`; "
         "nothing created anywhere (espnet2 kept the last copy)"),
    Case("archive_member_control_char", SEC, "s5_pack unpack (run.sh stage 7 --packed_model)",
         "a member, a meta.yaml path or the --outdir holding `\ntagger_model=/etc/passwd`",
         "`... control character` naming the member, meta.yaml or --outdir: no printed path can add a "
         "`tagger_model=` line for run.sh; nothing created anywhere"),
    Case("archive_bomb", SEC, "s5_pack unpack --max_unpacked_gb",
         "a .zip / .tgz member of 3 MB of zeros (a few kB packed) under a 0.001 GB cap (default: 4 GB)",
         "`member 'report/bomb.bin' takes the unpacked size over the limit of 0.001 GB ... raise "
         "--max_unpacked_gb`, checked on the headers before any byte is written; with 0.01 it unpacks"),
    Case("archive_bomb_run_sh", SEC, "run.sh --packed_model --max_unpacked_gb",
         "stage 7 given the bomb archive and `--max_unpacked_gb 0.001`",
         "one `ERROR:` line naming the member and the limit, run.sh exits non-zero, nothing under "
         "exp/packed and no decode folder"),
    Case("archive_cap_option_bad", SEC, "s5_pack unpack --max_unpacked_gb", "`0`, `-1`, `nan`, `inf`, `4GB`",
         "`'0' is not a finite number > 0`; nothing created anywhere"),
    Case("archive_meta_outside_path", SEC, "s5_pack unpack",
         "meta.yaml `files.tagger_model` = `../../outside.pth` (present there), `/etc/passwd`, a folder, "
         "a file the archive lacks",
         "`member 'meta.yaml' names a file outside the unpack folder: files.tagger_model = ...` (espnet2 "
         "printed tagger_model=/etc/passwd); nothing created anywhere"),
    Case("archive_meta_wrong_type", SEC, "s5_pack unpack",
         "m2d_weight_reference.yaml with `path: [a.pth, b.pth]`, `digest: 5` or a list; meta.yaml a list, "
         "or a mapping where a path string belongs",
         "`m2d_weight_reference.yaml: path = ['a.pth', 'b.pth'] is not a string; re-pack ...` (was a "
         "TypeError traceback); nothing created anywhere"),
    Case("archive_yaml_python_tag", SEC, "s5_pack unpack",
         "tagger/config.yaml, meta.yaml or m2d_weight_reference.yaml holding "
         "`!!python/object/apply:os.system ['touch MARKER']` (.tgz)",
         "`member 'tagger/config.yaml' (...) is not plain YAML ... python/object/apply`; no marker, "
         "nothing created anywhere"),
    Case("pack_score_link_outside", SEC, "s5_pack pack --score_dir",
         "the score folder holds a link to a file outside (`report/media/leak.png`, `RESULTS.md`) or to a "
         "folder outside (`report/media2`)",
         "`--score_dir <dir>: <link> is a link to <target>, outside the score folder; ... remove it`; no "
         "archive; without the link it packs, a link inside (`b.png` -> `a.png`) packed as the file"),
    # ----------------------------------------------------------------- option values never reach a shell
    Case("sep_args_semicolon", SEC, "run.sh --sep_args -> local/train.sh -> launcher -> run.pl -> s5_sep_train",
         "`--sep_args \"--max_epoch 1; touch MARKER\"` (local/train.sh expanded it unquoted; run.pl runs "
         "the command with `bash -c`)",
         "the trainer gets `1;`, `touch`, `MARKER` as arguments and refuses `--max_epoch '1;'` (one ERROR line); "
         "exit 1, no marker, nothing written outside exp/"),
    Case("sep_args_bare_operator", SEC, "run.sh --sep_args",
         "`--sep_args \"--max_epoch 1 ; touch MARKER ;\"` (a bare `;`, which run.pl/slurm.pl hand to bash as "
         "syntax: it ran `touch MARKER`)",
         "`--sep_args ... holds ';', a shell operator` before any work; no marker, nothing written"),
    Case("tag_args_command_substitution", SEC, "run.sh --tag_args -> local/train.sh -> launcher -> run.pl -> s5_tag_train",
         "``--tag_args '$(touch MARKER) `touch MARKER2`'``",
         "the trainer gets the four words literally and refuses them (`unrecognized arguments: $(touch MARKER) ...`); "
         "exit 1, no marker, nothing written outside exp/"),
    Case("config_file_command_substitution", SEC, "utils/parse_options.sh (run.sh --config)",
         "an options file with `sep_args=$(touch MARKER)`, then one with `sep_args=\"$(touch MARKER)\"` (it was sourced)",
         "`--config bare.conf, line 2: cannot read 'sep_args=$(touch MARKER)'`; the quoted value is taken literally "
         "(run.sh then stops at its next check); no marker, nothing written"),
    Case("sep_tag_traversal", SEC, "run.sh --sep_tag", "`--sep_tag ../../escape` (training in exp/sep_../../escape)",
         "`--sep_tag = '../../escape' is not a safe name` before any work; nothing written"),
    Case("inference_tag_traversal", SEC, "run.sh --inference_tag",
         "`--inference_tag ../x`, `--inference_model ../../x.pth`, `--test_sets ../a` (decoding outside exp/)",
         "`is not a safe name` naming the option, before any work; nothing written"),
    Case("tag_space_newline", SEC, "run.sh --tag_tag / --sep_tag / derived tags",
         "`--tag_tag 'a b'`, `--sep_tag 'ok\\n'` (a trailing newline), `--sep_config 'conf/my sep.yaml'`, "
         "a given checkpoint `my model.ckpt`",
         "`is not a safe name` naming the option, before any work; nothing written"),
    Case("launcher_job_name_space_semicolon", SEC, "run.sh -> local/train.sh -> espnet2.bin.launch -> run.pl",
         "`--expdir 'exp/a b;touch MARKER'`: the job name and log path hold a space and `;`",
         "each stays one argument: the trainer's log lands in `exp/a b;touch MARKER/sep_.../train.log`; "
         "no marker, nothing written outside exp/"),
    Case("run_pl_name_log_path", SEC, "utils/run.pl",
         "`--name 'a b;touch MARKER'`, log `exp/l og;touch MARKER/x.log`, command words `$(touch MARKER)`, a "
         "backtick, and a word ending in a newline (it went to bash unquoted and ended the command line)",
         "exit 0, the log at that literal path holds the words as text; no marker, nothing written outside exp/"),
    Case("slurm_pl_name_log_path", SEC, "utils/slurm.pl (SLURM_PL_DRY_RUN, the job script run by bash)",
         "the same name, log path and command; `--num_threads '1; touch MARKER'` (written into the job script)",
         "sbatch gets `--job-name 'a b;touch MARKER'` as one argument, the job script logs the words as text; "
         "`--num_threads needs a positive integer`; no marker, nothing written outside exp/"),
    # ----------------------------------------------------------------- names in outputs are escaped, YAML is safe
    Case("leaderboard_folder_markup", SEC, "s5_leaderboard",
         "a decode folder named `decode (1)|<script>x*_[l](u)\\`; a model path and code/package versions "
         "with `|`, a backtick, `<img ...>`, `[x](y)` and a newline",
         "every table row keeps its 12 columns, the names appear escaped (`\\|`, `&lt;script&gt;`, `\\[`), "
         "no raw `<script>` or `<img`, the only link is the percent-encoded report link"),
    Case("score_system_markup", SEC, "s5_score --system",
         "a system name with `|`, `<script>`, `*`, `[x](y)`, `$` and a trailing newline",
         "RESULTS.md: the tables keep their columns, the name escaped (the newline shown as `␊`); "
         "report/index.html holds it HTML-escaped only; the plots are drawn"),
    Case("soundscape_name_newline", SEC, "s5_score", "a soundscape file named `scene_0\\n.wav` (a newline in the name)",
         "`soundscape file 'scene_0\\n.wav': the name holds the control character(s) '\\n'` (was scored under "
         "that name); no score folder"),
    Case("label_name_newline", SEC, "s5_score / official name pattern",
         "estimates.json lists the label `Speech\\n`; a source named `scene_0_0_Speech.wav\\n`",
         "`listed with label 'Speech\\n'`; no score folder; the name pattern (fullmatch, was `^...$`) "
         "refuses the name with a trailing newline"),
    Case("submission_author_name", SEC, "s5_submission --author / --affiliation",
         "`Doe\\n`, `Do/e`, `..`, `Lab\\r` (they name the package folder and zip)",
         "`--author 'Doe\\n': use letters, digits and '-' only` (a trailing newline was accepted); "
         "no package folder, no zip"),
    Case("pack_archive_name", SEC, "s5_pack pack --outpath", "an archive name with a newline, or with `..`",
         "`--outpath 'sys\\n.zip': the name holds the control character(s)` before any work; no archive"),
    Case("conf_option_python_tag", SEC, "s5_sep_train / s5_tag_train",
         "`--optim_conf '!!python/object/apply:os.system [\"touch MARKER\"]'`, "
         "`--tagger_conf 'weight_file=!!python/...'` (espnet2 reads them with yaml.Loader)",
         "`is not plain YAML ... tags such as !!python/... are refused`; no marker, no exp folder"),
    Case("conf_option_python_eval", SEC, "s5_sep_train --optim_conf",
         "`__import__('os').system('touch MARKER') or {}` (espnet2 eval()s such values)",
         "`is not a mapping`; no marker, no exp folder"),
    Case("config_yaml_python_tag", SEC, "s5_tag_train / s5_sep_train --config",
         "a config YAML with `optim_conf: !!python/object/apply:os.system [\"touch MARKER\"]`",
         "`config <yaml> is not valid YAML ... python/object/apply`; no marker, no exp folder"),
]


def covers(*case_ids: str) -> Callable:
    """Mark a test as checking the catalogue cases ``case_ids``."""
    known = {c.id for c in CASES + SECURITY_CASES}
    unknown = [c for c in case_ids if c not in known]
    if unknown:
        raise KeyError(f"not in the catalogue: {unknown}")

    def mark(test: Callable) -> Callable:
        test.case_ids = tuple(case_ids)
        return test

    return mark


def counts_line() -> str:
    """REPORT.md's counts: how many cases of each kind the catalogue tries (what a run lost is
    counted by the run itself: :func:`run_summary`)."""
    n_bad = sum(c.kind == BAD for c in CASES)
    n_int = sum(c.kind == INT for c in CASES)
    return f"{n_bad} bad inputs, {n_int} interruptions tried"


def security_counts_line() -> str:
    return f"{len(SECURITY_CASES)} attacks tried"


#: the key under which a catalogue test's report carries its case ids (``report.user_properties``)
CATALOGUE_CASES = "catalogue_cases"


def case_outcome(passed: Dict[str, bool], report) -> None:
    """Count one test report into ``passed`` (case id -> passed): a case passes when none of its
    test's phases failed; a skipped test's cases did not run."""
    cases = dict(report.user_properties).get(CATALOGUE_CASES)
    if cases and not report.skipped and (report.when == "call" or report.failed):
        for case in cases:
            passed[case] = passed.get(case, True) and report.passed


def run_summary(passed: Dict[str, bool]) -> str:
    """The catalogue's result in one pytest run: ``passed`` maps each case id that ran to
    whether its test passed. A bad input whose test failed was not refused cleanly, an
    interruption whose test failed lost something, an attack whose test failed got through."""
    def count(cases: List[Case], kind: str) -> Tuple[int, int, int]:
        ids = [c.id for c in cases if c.kind == kind]
        ran = [i for i in ids if i in passed]
        return len(ids), len(ran), sum(not passed[i] for i in ran)

    bad, intr, sec = count(CASES, BAD), count(CASES, INT), count(SECURITY_CASES, SEC)
    return (f"reliability catalogue, this run: {bad[1]} of {bad[0]} bad inputs tried, {bad[2]} not refused "
            f"cleanly; {intr[1]} of {intr[0]} interruptions tried, {intr[2]} lost; {sec[1]} of {sec[0]} attacks "
            f"tried, {sec[2]} got through")


def render_report() -> str:
    """REPORT.md: the counts line, then one table row per case."""
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Reliability report",
        "",
        counts_line(),
        "",
        "Generated from `tests/reliability/reliability_cases.py`; every row is checked by the test",
        "marked `@covers(\"<id>\")` in `tests/reliability/` (`pytest tests/reliability`). Bad input: exit 2 with",
        "`ERROR: <message>` naming the item and the fix, and no partial output. Interruption:",
        "nothing lost, i.e. the rerun ends exactly where an uninterrupted run ends. Each run of the tests",
        "prints how many cases of each kind it tried and how many failed (a lost interruption is a",
        "failed test): `reliability catalogue, this run: ...` at the end of pytest's output.",
        "",
        "| id | kind | tool | what goes wrong | checked outcome |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{c.id}` | {c.kind} | {esc(c.tool)} | {esc(c.what)} | {esc(c.outcome)} |" for c in CASES]
    lines += [
        "",
        "## Security",
        "",
        security_counts_line(),
        "",
        "Files and option values from others, crafted on purpose: pickles whose payload would create a",
        "marker file, archives whose members slip out of their folder, option values with `;`, `$(...)`",
        "or `../`. Each test asserts one `ERROR:` line, a non-zero exit, and no marker or stray file",
        "anywhere (`tests/reliability/test_security_*.py`).",
        "",
        "| id | kind | tool | attack | checked outcome |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{c.id}` | {c.kind} | {esc(c.tool)} | {esc(c.what)} | {esc(c.outcome)} |"
              for c in SECURITY_CASES]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_report(), end="")
