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

# ---- options (override with --name value; see --help) ----
stage=1                # first stage to run
stop_stage=8           # last stage to run
mini=false             # true: build and use the embedded mini corpus, mini configs (CPU, minutes)
mini_seed=0            # seed of the mini corpus
nj=4                   # parallel jobs for data preparation, synthesis and decoding
ngpu=0                 # GPUs per training job (0 = CPU); >1 uses DDP
num_nodes=1            # nodes per training job (Slurm, through srun)
gpu_inference=false    # decode with ${cuda_cmd} --gpu 1 instead of ${decode_cmd}
local_data_dir=        # stage 1: link an already extracted corpus (folder holding dev_set/ and eval_set/)
download_baseline_ckpt=false  # stage 1: also fetch the official baseline checkpoints
semhear_path=          # stage 2: Semantic Hearing BinauralCuratedDataset folder
ears_path=             # stage 2: EARS folder (p001 ... p107)
tagger_variants=       # stages 4-5: which taggers to train (default: all, espnet2_ext/s5/official.py)
tagger_variant=        # stages 7-8: which tagger decodes (default: official.py's DEFAULT_TAGGER_VARIANT)
official_resume=false  # stage 5: resume the stage-4 optimizer state like the official -r flag
tag_args=              # extra arguments for the tagger trainer (e.g. "--max_epoch 10")
sep_args=              # extra arguments for the separator trainer
tagger_ckpt=           # stages 7-8: decode with this tagger (official .ckpt or our .pth) instead of exp/
separator_ckpt=        # stages 7-8: decode with this separator instead of exp/
m2d_weight_file=       # M2D weight file (default: espnet2_ext/s5/official.py's M2D_WEIGHT_PATH)
test_sets="test eval"  # stage 7: sets to decode (test = dev test set with references)
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
Options:
  --stage N / --stop-stage N    stages to run (default ${stage}..${stop_stage})
  --mini true|false             use the built-in mini corpus and conf/mini/ (default ${mini})
  --nj N                        parallel jobs (default ${nj})
  --ngpu N --num_nodes N        training resources (default ${ngpu} GPU, ${num_nodes} node)
  --local_data_dir DIR          stage 1: use an extracted corpus already on disk
  --download_baseline_ckpt B    stage 1: also download the official checkpoints
  --semhear_path P --ears_path E  stage 2 inputs
  --tagger_variants "1c 4c"     stages 4-5 (default: all variants)
  --official_resume B           stage 5: official -r behaviour (old optimizer state, lr 1e-3)
  --tagger_variant 1c|4c        stages 7-8 (default: DEFAULT_TAGGER_VARIANT in espnet2_ext/s5/official.py)
  --tagger_ckpt F --separator_ckpt F  stages 7-8: decode with these checkpoints, no training
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
    if ! [[ "${s}" =~ ^[0-9]+$ ]] || [ "${s}" -lt 1 ] || [ "${s}" -gt 8 ]; then
        log "Error: stages are 1..8, got --stage ${stage} --stop-stage ${stop_stage}"; exit 2
    fi
done

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

# Given checkpoints replace training: stages 4-6 are skipped.
skip_train=false
if [ -n "${tagger_ckpt}" ] && [ -n "${separator_ckpt}" ]; then
    skip_train=true
    if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 4 ]; then
        log "Checkpoints given (--tagger_ckpt, --separator_ckpt): skipping training stages 4-6"
    fi
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

if ! "${skip_train}" && [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    log "Stage 4: train the tagger head on the frozen M2D backbone (${tagger_variants})"
    local/verify_layout.sh --dev_set "${dev_set}" --eval_set "${eval_set}"   # fail early on a broken corpus
    for v in ${tagger_variants}; do
        local/train.sh --task tag --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" \
            --config "${confdir}/tag_head_${v}.yaml" --exp "${expdir}/tag_head_${v}" \
            --valid_data_dir "${datadir}/valid" --args "${tag_args}"
    done
fi

if ! "${skip_train}" && [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    log "Stage 5: fine-tune the tagger's last 2 blocks from the best stage-4 model"
    for v in ${tagger_variants}; do
        src=${expdir}/tag_head_${v}
        dst=${expdir}/tag_blocks_${v}
        # Default: best stage-4 weights + a fresh AdamW at the stage-5 lr.
        # --official_resume true: also carry the stage-4 optimizer state and epoch
        # counter, as the official `train.py -r epoch=N.ckpt` does (lr stays 1e-3).
        python -m espnet2_ext.bin.s5_stage5_init --src_exp "${src}" --dst_exp "${dst}" \
            --official_resume "${official_resume}"
        local/train.sh --task tag --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" \
            --config "${confdir}/tag_blocks_${v}.yaml" --exp "${dst}" \
            --valid_data_dir "${datadir}/valid" --init_param "${dst}/init.pth" --args "${tag_args}"
    done
fi

if ! "${skip_train}" && [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: train the label-queried separator (ResUNetK, class-aware PIT)"
    local/train.sh --task sep --cmd "${cuda_cmd}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" \
        --config "${confdir}/sep_resunetk.yaml" --exp "${expdir}/sep_resunetk" \
        --valid_data_dir "${datadir}/valid" --args "${sep_args}"
fi

# Models used by stages 7-8: given checkpoints, else this recipe's trained ones.
if "${skip_train}"; then
    decode_dir=${expdir}/decode_given_${tagger_variant}
else
    decode_dir=${expdir}/decode_${tagger_variant}
fi
tagger_ckpt=${tagger_ckpt:-${expdir}/tag_blocks_${tagger_variant}/valid.loss.best.pth}
separator_ckpt=${separator_ckpt:-${expdir}/sep_resunetk/valid.loss.best.pth}

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    log "Stage 7: decode ${test_sets} with ${tagger_ckpt} + ${separator_ckpt} -> ${decode_dir}"
    if "${gpu_inference}"; then _cmd="${cuda_cmd} --gpu 1"; _device=cuda; else _cmd=${decode_cmd}; _device=cpu; fi
    for dset in ${test_sets}; do
        local/decode.sh --cmd "${_cmd}" --nj "${nj}" --device "${_device}" \
            --soundscape_dir "$(cat "${datadir}/${dset}/soundscape_dir")" --output_dir "${decode_dir}/${dset}" \
            --tagger_ckpt "${tagger_ckpt}" --tagger_type "${tagger_variant}" \
            --m2d_weight_file "${m2d_weight_file}" --separator_ckpt "${separator_ckpt}"
    done
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
    log "Stage 8: score the dev test set -> ${decode_dir}/test/score"
    ${decode_cmd} "${decode_dir}/test/score/score.log" \
        python -m espnet2_ext.bin.s5_score --soundscape_dir "$(cat "${datadir}/test/soundscape_dir")" \
            --oracle_target_dir "$(cat "${datadir}/test/oracle_target_dir")" \
            --estimate_dir "${decode_dir}/test" --output_dir "${decode_dir}/test/score" \
            --system "M2DAT_${tagger_variant}+ResUNetK ($(basename "${decode_dir}"))"
    grep -E '^(CAPI-SDRi|Accuracy)' "${decode_dir}/test/score/score.log"
    cat "${decode_dir}/test/score/RESULTS.md"
    if "${submission}"; then
        log "Stage 8: submission package ${author}_${affiliation}_task4_${submission_number}"
        python -m espnet2_ext.bin.s5_submission --eval_estimate_dir "${decode_dir}/eval" \
            --eval_soundscape_dir "$(cat "${datadir}/eval/soundscape_dir")" \
            --dev_results "${decode_dir}/test/score/results.json" --author "${author}" \
            --affiliation "${affiliation}" --submission_number "${submission_number}" \
            --output_dir "${expdir}/submission"
    fi
fi

log "Successfully finished stages ${stage}-${stop_stage}"
