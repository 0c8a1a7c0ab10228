#!/usr/bin/env bash
# DCASE2026 Task 4 (S5) recipe: tagger (M2D) + label-queried separator (ResUNetK).
#
#   ./run.sh --mini true                       # whole recipe on the built-in mini corpus (CPU)
#   ./run.sh --stage 3 --stop-stage 5          # a range of stages
#   ./run.sh --stage 7 --tagger_ckpt checkpoint/m2dat_4c.ckpt --separator_ckpt checkpoint/resunetk.ckpt
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
min() { local a b; a=$1; for b in "$@"; do [ "${b}" -lt "${a}" ] && a=${b}; done; echo "${a}"; }
# the cores this process may use (nproc alone obeys the OMP_NUM_THREADS=1 that path.sh exports)
usable_cpus() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc; }

# ---- options (override with --name value; see --help) ----
stage=1                # first stage to run
stop_stage=8           # last stage to run
mini=false             # true: build and use the embedded mini corpus, mini configs (CPU, minutes)
mini_seed=0            # seed of the mini corpus
nj=                    # parallel jobs for data preparation, synthesis and decoding (default 4;
                       # with --mini true: the number of cores, at most 4)
ngpu=0                 # GPUs per training job (0 = CPU); >1 uses DDP
num_nodes=1            # nodes per training job (Slurm, through srun)
cpu_procs=1            # with --ngpu 0: training processes on this node's CPUs (DDP on gloo, via torchrun)
train_threads=1        # CPU threads of a training job (its data-loading workers use the other cores)
gpu_inference=false    # decode with ${cuda_cmd} --gpu 1 instead of ${decode_cmd}
local_data_dir=        # stage 1: link an already extracted corpus (folder holding dev_set/ and eval_set/)
download_baseline_ckpt=false  # stage 1: also fetch the official baseline checkpoints
semhear_path=          # stage 2: Semantic Hearing BinauralCuratedDataset folder
ears_path=             # stage 2: EARS folder (p001 ... p107)
tagger_variants=       # stages 4-5: which taggers to train (default: all, espnet2_ext/s5/official.py)
tagger_variant=        # stages 7-8: which tagger decodes (default: official.py's DEFAULT_TAGGER_VARIANT)
official_resume=false  # stage 5: resume the stage-4 optimizer state like the official -r flag
tag_head_config=       # stage 4 config (default: conf/tuning/tag_head_<variant>.yaml, conf/mini/ with --mini)
tag_blocks_config=     # stage 5 config (default: conf/.../tag_blocks_<variant>.yaml)
sep_config=            # stage 6 config (default: conf/.../sep_resunetk.yaml)
tag_args=              # extra arguments for the tagger trainer (e.g. "--max_epoch 10")
sep_args=              # extra arguments for the separator trainer
tag_tag=               # tagger experiment name: exp/tag_{head,blocks}_<tag> (default: variant + args)
sep_tag=               # separator experiment name: exp/sep_<tag> (default: config name + args)
inference_model=valid.loss.best.pth  # stages 7-8: model file of each experiment to decode with
inference_tag=         # stages 7-8: suffix of the decode folder (e.g. to compare decoding options)
inference_nj=          # stage 7: decoding jobs (default: --nj)
inference_precision=fp32  # stages 7-8: fp32 (the official arithmetic) or bf16 (opt-in bfloat16 autocast of the
                       # tagger and the U-Net: faster on GPUs and AMX CPUs; decode folder gets _bf16)
calibrate=false        # stages 7-8: fit per-class slot thresholds on data/valid (s5_calibrate) and decode
                       # with them (decode folder gets _calib); false = the baseline's argmax
calibration_objective=accuracy  # --calibrate: what the fit maximises on data/valid: accuracy (mixture label
                       # accuracy; fit stored with the tagger) or capi_sdri (runs the separator; fit stored
                       # in the decode folder, which gets _calib_capi)
overwrite=false        # true: folders holding results of other settings are emptied and redone
packed_model=          # stages 7-8: decode with a system packed by stage 9 (.zip) instead of exp/
max_unpacked_gb=4      # stage 7: refuse a --packed_model archive that unpacks to more than this
hf_repo=               # stage 9: also upload the packed system and its model card (README.md) to this
                       # Hugging Face Hub model repository owner/name (created private); empty: no upload
tagger_ckpt=           # stages 7-8: decode with this tagger (official .ckpt or our .pth) instead of exp/
separator_ckpt=        # stages 7-8: decode with this separator instead of exp/
m2d_weight_file=       # M2D weight file (default: espnet2_ext/s5/official.py's M2D_WEIGHT_PATH)
test_sets="test eval"  # stage 7: sets to decode (test = dev test set with references)
report=true            # stage 8: write the listening report (score/report/index.html)
report_n=10            # stage 8: the report shows the N best, N median and N worst soundscapes
submission=false       # stage 8: also build the submission package
author=Author          # stage 8 submission: <author>_<affiliation>_task4_<N>
affiliation=Affiliation
submission_number=1
expdir=exp
datadir=data

help_message=$(cat <<EOF
Usage: $0 [options]
Stages:
  1  download the corpus and M2D weights (or build the mini corpus with --mini true)
  2  add external data (Semantic Hearing, EARS)
  3  synthesize the validation set and prepare data/ directories
  4  train the audio tagger head (M2D frozen)
  5  fine-tune the tagger's last 2 blocks from the best stage-4 model
  6  train the label-queried separator (ResUNetK, class-aware PIT)
  7  decode: tagger -> separator on the dev test and eval sets
  8  score (CAPI-SDRi, label accuracies, RESULTS.md) and optionally package a submission
  9  pack the decoded system (models, configs, M2D reference, scores, model card README.md) into
     exp/packed/*.zip (run it with --stage 9 --stop-stage 9; --hf_repo owner/name also uploads it)
Options:
  --stage N / --stop-stage N    stages to run (default ${stage}..${stop_stage})
  --mini true|false             use the built-in mini corpus and conf/mini/ (default ${mini})
  --nj N                        parallel jobs (default 4; with --mini true the cores, at most 4)
  --ngpu N --num_nodes N        training resources (default ${ngpu} GPU, ${num_nodes} node);
                                batch_size in the configs is per GPU (official meaning)
  --cpu_procs N                 with --ngpu 0: N training processes on CPUs (same DDP code path)
  --local_data_dir DIR          stage 1: use an extracted corpus already on disk
  --download_baseline_ckpt B    stage 1: also download the official checkpoints
  --semhear_path P --ears_path E  stage 2 inputs
  --tagger_variants "1c 4c"     stages 4-5 (default: all variants)
  --official_resume B           stage 5: official -r behaviour (old optimizer state, lr 1e-3)
  --tagger_variant 1c|4c        stages 7-8 (default: DEFAULT_TAGGER_VARIANT in espnet2_ext/s5/official.py)
  --tag_head_config Y --tag_blocks_config Y --sep_config Y   stages 4-6 configs (any YAML)
  --tag_tag T --sep_tag T       experiment names: exp/tag_{head,blocks}_T, exp/sep_T
  --tagger_ckpt F --separator_ckpt F  stages 7-8: decode with these checkpoints, no training
  --inference_model F           stages 7-8: e.g. valid.loss.ave_2best.pth (default ${inference_model})
  --inference_tag T --inference_nj N  stages 7-8: decode folder suffix, decoding jobs
  --inference_precision fp32|bf16  stages 7-8: bf16 = opt-in bfloat16 autocast (decode folder _bf16)
  --calibrate true              stages 7-8: calibrated slot decisions fitted on ${datadir}/valid
                                (beyond the baseline; decode folder decode_..._calib)
  --calibration_objective accuracy|capi_sdri   what --calibrate maximises (default ${calibration_objective})
  --overwrite true              redo folders that hold results of other settings (default: stop)
  --train_threads N             stages 4-6: CPU threads of a training job (default ${train_threads}; the
                                tagger variants, which train side by side on CPUs, share them)
  --packed_model F              stages 7-8: decode a system packed by stage 9
  --max_unpacked_gb N           stage 7: largest unpacked size of --packed_model in GB (default ${max_unpacked_gb})
  --hf_repo owner/name          stage 9: also upload the archive and its model card to the Hugging Face Hub
  --report true|false --report_n N  stage 8: listening report, N best/median/worst soundscapes
  --submission true --author A --affiliation F --submission_number N  stage 8 package
Backends: edit cmd.sh or export cmd_backend=local|slurm.
EOF
)

. ./path.sh
. ./cmd.sh
. ./db.sh
. utils/parse_options.sh

if [ $# -ne 0 ]; then
    log "Error: unexpected positional arguments: $*"; echo "${help_message}"; exit 2
fi
for s in "${stage}" "${stop_stage}"; do
    if ! [[ "${s}" =~ ^[0-9]+$ ]] || [ "${s}" -lt 1 ] || [ "${s}" -gt 9 ]; then
        log "Error: stages are 1..9, got --stage ${stage} --stop-stage ${stop_stage}"; exit 2
    fi
done
if [ "${stage}" -gt "${stop_stage}" ]; then
    log "Error: --stage ${stage} is after --stop-stage ${stop_stage}: nothing would run"; exit 2
fi
if [ -z "${nj}" ]; then "${mini}" && nj=$(min 4 "$(usable_cpus)") || nj=4; fi
# numeric options: name minimum (checked before any work, so a typo leaves no stray files)
for spec in nj:1 inference_nj:1 ngpu:0 num_nodes:1 cpu_procs:1 mini_seed:0 submission_number:1; do
    name=${spec%%:*}; min_value=${spec##*:}; value=${!name}
    [ -z "${value}" ] && [ "${name}" = inference_nj ] && continue
    if ! [[ "${value}" =~ ^[0-9]+$ ]] || [ "${value}" -lt "${min_value}" ]; then
        log "Error: --${name} must be an integer >= ${min_value}, got '${value}'"; exit 2
    fi
done
case "${calibration_objective}" in
    accuracy|capi_sdri) ;;
    *) log "Error: --calibration_objective must be accuracy or capi_sdri, got '${calibration_objective}'"; exit 2 ;;
esac
case "${inference_precision}" in
    fp32|bf16) ;;
    *) log "Error: --inference_precision must be fp32 or bf16, got '${inference_precision}'"; exit 2 ;;
esac
# GPUs asked for on this machine (a Slurm job gets its GPUs on the compute node)
if [ "${cmd_backend:-local}" = local ] && { [ "${ngpu}" -gt 0 ] || "${gpu_inference}"; }; then
    n_gpus=$(python -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
    need=$(( ngpu > 0 ? ngpu : 1 ))
    if [ "${n_gpus}" -lt "${need}" ]; then
        log "Error: --ngpu ${ngpu} / --gpu_inference ${gpu_inference} need ${need} GPU(s), this machine has ${n_gpus}: use --ngpu 0 (--cpu_procs N for several CPU processes) or a GPU node (cmd_backend=slurm)"
        exit 2
    fi
fi

if "${mini}"; then
    DCASE2026T4=${DCASE2026T4_MINI:-mini/corpus}
    confdir=conf/mini
else
    confdir=conf/tuning
fi
dev_set=${datadir}/dev_set
eval_set=${datadir}/eval_set
tagger_variants=${tagger_variants:-$(python -m espnet2_ext.s5.official tagger_variants)}
tagger_variant=${tagger_variant:-$(python -m espnet2_ext.s5.official default_tagger_variant)}
inference_nj=${inference_nj:-${nj}}
if ! [[ "${train_threads}" =~ ^[1-9][0-9]*$ ]]; then
    log "Error: --train_threads must be an integer >= 1, got '${train_threads}'"; exit 2
fi

# Option values that become arguments or folder names: checked by espnet2_ext/bin/s5_options.py
# (rules in espnet2_ext/validate.py), never run or re-split by a shell.
options() { python -m espnet2_ext.bin.s5_options "$@"; }
# --tag_args/--sep_args -> arrays tag_argv/sep_argv: the words as a shell splits them (quotes group),
# nothing expanded or run; each word reaches the trainer as one argument.
split_args() {   # split_args tag_args -> the array tag_argv
    local words
    words=$(options words "--$1" "${!1}" && echo .) || exit 2   # the "." keeps a last empty word
    mapfile -t "${1%args}argv" < <(printf '%s' "${words%.}")
}
split_args tag_args
split_args sep_args

# ---- experiment names (ESPnet style: the config name plus a compact form of the extra args) ----
tag_head_conf() { echo "${tag_head_config:-${confdir}/tag_head_$1.yaml}"; }
tag_blocks_conf() { echo "${tag_blocks_config:-${confdir}/tag_blocks_$1.yaml}"; }
tag_args_suffix=$(options suffix "${tag_args}")   # "--max_epoch 10" -> _max_epoch10
# tagger tag of variant $1: --tag_tag, else the variant (or the given head config's name) + args
tagger_tag() {
    local name=$1
    [ -n "${tag_head_config}" ] && name=$(basename "${tag_head_config}" .yaml | sed -e 's/^tag_head_//')
    echo "${tag_tag:-${name}${tag_args_suffix}}"
}
sep_config=${sep_config:-${confdir}/sep_resunetk.yaml}
sep_tag=${sep_tag:-$(basename "${sep_config}" .yaml | sed -e 's/^sep_//')$(options suffix "${sep_args}")}
stem() { basename "$1" | sed -e 's/\.\(pth\|ckpt\|zip\|tgz\|tar\)$//'; }
# Every name that becomes a folder or file name under ${expdir} (tags, model file names, test sets)
# is one plain name, no "/" and no "..": checked before any work.
names=(--sep_tag "${sep_tag}" --inference_tag "${inference_tag}" --inference_model "${inference_model}")
for v in ${tagger_variants} ${tagger_variant}; do names+=(--tag_tag "$(tagger_tag "${v}")"); done
for f in packed_model tagger_ckpt separator_ckpt; do
    [ -z "${!f}" ] || names+=("--${f} (file name)" "$(stem "${!f}")")
done
for dset in ${test_sets}; do names+=(--test_sets "${dset}"); done
options tags "${names[@]}" || exit 2
if [ -n "${hf_repo}" ] && [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then   # before any work
    python -m espnet2_ext.bin.s5_pack check_hf_repo --hf_repo "${hf_repo}" || exit 2
fi
n_variants=$(echo ${tagger_variants} | wc -w)
if [ "${n_variants}" -gt 1 ] && [ -n "${tag_head_config}${tag_blocks_config}${tag_tag}" ]; then
    log "Error: --tag_head_config/--tag_blocks_config/--tag_tag name one tagger: give one --tagger_variants (got '${tagger_variants}')"
    exit 2
fi
for f in ${tag_head_config} ${tag_blocks_config}; do
    [ -f "${f}" ] || { log "Error: config ${f} not found"; exit 2; }
done

# Given checkpoints replace training: stages 4-6 are skipped.
skip_train=false
if [ -n "${tagger_ckpt}" ] && [ -n "${separator_ckpt}" ]; then
    skip_train=true
    if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 4 ]; then
        log "Checkpoints given (--tagger_ckpt, --separator_ckpt): skipping training stages 4-6"
    fi
elif [ -n "${packed_model}" ]; then
    skip_train=true
    [ -f "${packed_model}" ] || { log "Error: --packed_model ${packed_model} not found"; exit 2; }
elif [ -n "${tagger_ckpt}${separator_ckpt}" ]; then
    log "Error: give both --tagger_ckpt and --separator_ckpt (or neither, to use this recipe's models)"
    exit 2
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: corpus and M2D weights -> ${DCASE2026T4}, ${datadir}/{dev_set,eval_set}"
    local/download.sh --mini "${mini}" --mini_seed "${mini_seed}" --corpus_dir "${DCASE2026T4}" \
        --local_data_dir "${local_data_dir}" --checkpoint_dir checkpoint \
        --download_baseline_ckpt "${download_baseline_ckpt}" --data_dir "${datadir}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: add external data (Semantic Hearing, EARS) -> ${dev_set}"
    local/add_external_data.sh --cmd "${train_cmd}" --nj "${nj}" --mini "${mini}" \
        --semhear_path "${semhear_path:-${SEMHEAR}}" --ears_path "${ears_path:-${EARS}}" \
        --dev_set "${dev_set}" --logdir "${expdir}/add_external_data"
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    log "Stage 3: synthesize validation mixtures and prepare ${datadir}/{valid,test,eval}"
    local/synthesize.sh --cmd "${decode_cmd}" --nj "${nj}" --dev_set "${dev_set}" \
        --eval_set "${eval_set}" --data_dir "${datadir}" --logdir "${expdir}/synthesize"
fi

# Stages 4-5 train one model per tagger variant. On CPUs or Slurm the variants train side by side
# (background jobs, the training threads shared); on local GPUs one after another.
for_each_variant() {   # for_each_variant FUNCTION: FUNCTION <variant> <threads> for every variant
    local v pids=() failed=0 n_variants threads
    n_variants=$(echo ${tagger_variants} | wc -w)
    if [ "${ngpu}" -gt 0 ] && [ "${cmd_backend:-local}" = local ]; then
        for v in ${tagger_variants}; do "$1" "${v}" "${train_threads}"; done
        return
    fi
    threads=$(( train_threads / n_variants > 0 ? train_threads / n_variants : 1 ))
    for v in ${tagger_variants}; do "$1" "${v}" "${threads}" & pids+=($!); done
    for v in "${pids[@]}"; do wait "${v}" || failed=1; done
    [ "${failed}" -eq 0 ] || { log "stopped: a tagger training failed (its error line is above)"; exit 1; }
}
train_tag_head() {   # train_tag_head <variant> <threads>
    local/train.sh --task tag --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" --cpu_procs "${cpu_procs}" \
        --num_threads "$2" --config "$(tag_head_conf "$1")" --exp "${expdir}/tag_head_$(tagger_tag "$1")" \
        --valid_data_dir "${datadir}/valid" --overwrite "${overwrite}" -- "${tag_argv[@]}"
}
train_tag_blocks() {   # train_tag_blocks <variant> <threads>
    local src=${expdir}/tag_head_$(tagger_tag "$1") dst=${expdir}/tag_blocks_$(tagger_tag "$1")
    # Default: best stage-4 weights + a fresh AdamW at the stage-5 lr.
    # --official_resume true: also carry the stage-4 optimizer state and epoch
    # counter, as the official `train.py -r epoch=N.ckpt` does (lr stays 1e-3).
    python -m espnet2_ext.bin.s5_stage5_init --src_exp "${src}" --dst_exp "${dst}" \
        --official_resume "${official_resume}" --overwrite "${overwrite}"
    local/train.sh --task tag --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" --cpu_procs "${cpu_procs}" \
        --num_threads "$2" --config "$(tag_blocks_conf "$1")" --exp "${dst}" --overwrite "${overwrite}" \
        --valid_data_dir "${datadir}/valid" --init_param "${dst}/init.pth" -- "${tag_argv[@]}"
}

if ! "${skip_train}" && [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    log "Stage 4: train the tagger head on the frozen M2D backbone (${tagger_variants})"
    local/verify_layout.sh --dev_set "${dev_set}" --eval_set "${eval_set}"   # fail early on a broken corpus
    for_each_variant train_tag_head
fi

if ! "${skip_train}" && [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    log "Stage 5: fine-tune the tagger's last 2 blocks from the best stage-4 model"
    for_each_variant train_tag_blocks
fi

if ! "${skip_train}" && [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: train the label-queried separator (ResUNetK, class-aware PIT)"
    local/train.sh --task sep --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" --cpu_procs "${cpu_procs}" \
        --num_threads "${train_threads}" --config "${sep_config}" --exp "${expdir}/sep_${sep_tag}" --overwrite "${overwrite}" \
        --valid_data_dir "${datadir}/valid" -- "${sep_argv[@]}"
fi

# Models used by stages 7-8: given checkpoints, else this recipe's trained ones.
# The decode folder is named after what decodes: tagger, separator, model file, inference tag.
if [ -n "${packed_model}" ]; then
    decode_dir=${expdir}/decode_packed_$(stem "${packed_model}")
    if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
        unpacked=$(python -m espnet2_ext.bin.s5_pack unpack --archive "${packed_model}" \
                   --outdir "${expdir}/packed/$(stem "${packed_model}")" --max_unpacked_gb "${max_unpacked_gb}")
        tagger_ckpt=$(echo "${unpacked}" | sed -n 's/^tagger_model=//p')
        separator_ckpt=$(echo "${unpacked}" | sed -n 's/^separator_model=//p')
    fi
elif "${skip_train}"; then
    decode_dir=${expdir}/decode_given_$(stem "${tagger_ckpt}")_$(stem "${separator_ckpt}")
else
    tagger_ckpt=${expdir}/tag_blocks_$(tagger_tag "${tagger_variant}")/${inference_model}
    separator_ckpt=${expdir}/sep_${sep_tag}/${inference_model}
    decode_dir=${expdir}/decode_$(tagger_tag "${tagger_variant}")_${sep_tag}_$(stem "${inference_model}")
fi
calib_file=
if "${calibrate}"; then   # the fit is stored with what it calibrates; the decode folder says it is calibrated
    if [ -n "${packed_model}" ]; then decode_dir=${decode_dir}_calib
    elif [ "${calibration_objective}" = capi_sdri ]; then decode_dir=${decode_dir}_calib_capi
    elif "${skip_train}"; then calib_file=${expdir}/calibration_$(stem "${tagger_ckpt}").json; decode_dir=${decode_dir}_calib
    else calib_file=$(dirname "${tagger_ckpt}")/calibration_$(stem "${inference_model}").json; decode_dir=${decode_dir}_calib; fi
fi
[ "${inference_precision}" = fp32 ] || decode_dir=${decode_dir}_${inference_precision}
decode_dir=${decode_dir}${inference_tag:+_${inference_tag}}
if "${calibrate}" && [ -z "${calib_file}" ]; then
    calib_file=${decode_dir}/calibration.json   # CAPI-SDRi fit (tagger + separator), or a packed system's
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    log "Stage 7: decode ${test_sets} with ${tagger_ckpt} + ${separator_ckpt} -> ${decode_dir}"
    for f in "${tagger_ckpt}" "${separator_ckpt}"; do
        [ -e "${f}" ] || { log "Error: ${f} not found (train stages 4-6 first; an N-best average valid.loss.ave_<N>best.pth exists when keep_nbest_models >= N)"; exit 1; }
    done
    if "${gpu_inference}"; then _cmd="${cuda_cmd} --gpu 1"; _device=cuda; else _cmd=${decode_cmd}; _device=cpu; fi
    packed_calib=$(echo "${unpacked:-}" | sed -n 's/^calibration=//p')
    if "${calibrate}" && [ -n "${packed_calib}" ]; then
        log "Stage 7: using the calibration packed with the system (${packed_calib})"
        mkdir -p "$(dirname "${calib_file}")" && cp "${packed_calib}" "${calib_file}"
    elif "${calibrate}"; then
        log "Stage 7: fit calibrated slot decisions (${calibration_objective}) on ${datadir}/valid -> ${calib_file}"
        calib_sep=(); [ "${calibration_objective}" = capi_sdri ] && calib_sep=(--separator_model "${separator_ckpt}")
        mkdir -p "$(dirname "${calib_file}")"
        ${_cmd} "${calib_file%.json}.log" python -m espnet2_ext.bin.s5_calibrate --tagger_model "${tagger_ckpt}" \
            --tagger_type "${tagger_variant}" ${m2d_weight_file:+--m2d_weight_file "${m2d_weight_file}"} \
            --valid_data_dir "${datadir}/valid" --output "${calib_file}" --device "${_device}" \
            --objective "${calibration_objective}" "${calib_sep[@]}"
        grep -h "argmax" "${calib_file%.json}.log" || true
    fi
    for dset in ${test_sets}; do
        local/decode.sh --cmd "${_cmd}" --nj "${inference_nj}" --device "${_device}" --overwrite "${overwrite}" \
            --soundscape_dir "$(cat "${datadir}/${dset}/soundscape_dir")" --output_dir "${decode_dir}/${dset}" \
            --tagger_ckpt "${tagger_ckpt}" --tagger_type "${tagger_variant}" \
            --m2d_weight_file "${m2d_weight_file}" --separator_ckpt "${separator_ckpt}" \
            --calibration "${calib_file}" --precision "${inference_precision}"
    done
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
    log "Stage 8: score the dev test set -> ${decode_dir}/test/score"
    ${decode_cmd} "${decode_dir}/test/score/score.log" \
        python -m espnet2_ext.bin.s5_score --soundscape_dir "$(cat "${datadir}/test/soundscape_dir")" \
            --oracle_target_dir "$(cat "${datadir}/test/oracle_target_dir")" \
            --estimate_dir "${decode_dir}/test" --output_dir "${decode_dir}/test/score" \
            --system "$(basename "${decode_dir}")" \
            --report "${report}" --report_n "${report_n}"
    grep -E '^(CAPI-SDRi|Accuracy)' "${decode_dir}/test/score/score.log"
    cat "${decode_dir}/test/score/RESULTS.md"
    if "${report}"; then
        log "Listening report: ${decode_dir}/test/score/report/index.html (open it in a browser)"
    fi
    python -m espnet2_ext.bin.s5_leaderboard --exp "${expdir}" --output RESULTS.md
    log "Every scored system, best first: $(pwd)/RESULTS.md"
    if "${submission}"; then
        log "Stage 8: submission package ${author}_${affiliation}_task4_${submission_number}"
        python -m espnet2_ext.bin.s5_submission --eval_estimate_dir "${decode_dir}/eval" \
            --eval_soundscape_dir "$(cat "${datadir}/eval/soundscape_dir")" \
            --dev_results "${decode_dir}/test/score/results.json" --author "${author}" \
            --affiliation "${affiliation}" --submission_number "${submission_number}" \
            --output_dir "${expdir}/submission"
    fi
fi

if [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then
    packed=${expdir}/packed/${decode_dir#"${expdir}"/decode_}.zip
    log "Stage 9: pack ${tagger_ckpt} + ${separator_ckpt} -> ${packed}"
    if "${skip_train}"; then
        log "Error: stage 9 packs this recipe's trained models (exp/), not given checkpoints"; exit 2
    fi
    pack_opts=()     # optional arguments, one word each (never re-split or evaluated)
    [ -z "${calib_file}" ] || pack_opts+=(--calibration "${calib_file}")
    [ -z "${hf_repo}" ] || pack_opts+=(--hf_repo "${hf_repo}")   # upload after packing (model card included)
    python -m espnet2_ext.bin.s5_pack pack --tagger_model "${tagger_ckpt}" --separator_model "${separator_ckpt}" \
        --score_dir "${decode_dir}/test/score" --outpath "${packed}" "${pack_opts[@]}"
fi

log "Successfully finished stages ${stage}-${stop_stage}"
