#!/usr/bin/env bash
# Check a Kaldi-style data directory (Kaldi's validate_data_dir.sh semantics, our code).
#
#   utils/validate_data_dir.sh [--no-text] [--no-feats] [--no-spk-sort] <data-dir>
#
# Checks, with LC_ALL=C byte order as Kaldi sorts:
#   - wav.scp, utt2spk and spk2utt exist and are not empty;
#   - every table (wav.scp, utt2spk, spk2utt, text, labels, spk*.scp, segments, feats.scp,
#     reco2dur, utt2dur, utt2num_frames) is sorted by its first field, and ids are unique;
#   - spk2utt is exactly utt2spk inverted, and utterance ids sort in speaker order
#     (unless --no-spk-sort);
#   - every utterance table lists exactly the utterances of utt2spk;
#   - text exists unless --no-text, feats.scp is checked only if present (--no-feats: ignored).
# Prints "Successfully validated data-directory <dir>" or an error naming the file, exits 1.
set -euo pipefail
export LC_ALL=C

no_text=false
no_feats=false
no_spk_sort=false
while [ $# -gt 0 ]; do
    case "$1" in
        --no-text) no_text=true; shift ;;
        --no-feats) no_feats=true; shift ;;
        --no-spk-sort) no_spk_sort=true; shift ;;
        --*) echo "$0: unknown option $1" >&2; exit 1 ;;
        *) break ;;
    esac
done
if [ $# -ne 1 ]; then
    echo "Usage: $0 [--no-text] [--no-feats] [--no-spk-sort] <data-dir>" >&2; exit 1
fi
data=$1
fail() { echo "$0: ERROR: $*" >&2; exit 1; }

[ -d "${data}" ] || fail "no such directory ${data}"
for f in wav.scp utt2spk spk2utt; do
    [ -s "${data}/${f}" ] || fail "${data}/${f} is missing or empty"
done
if ! "${no_text}" && [ ! -f "${data}/text" ]; then
    fail "${data}/text is missing (use --no-text for a data dir without transcripts)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

check_table() {   # sorted by the first field, unique first fields
    local f=$1
    if ! cut -d' ' -f1 "${f}" | sort -c 2>/dev/null; then
        fail "${f} is not sorted (LC_ALL=C sort -k1,1 it)"
    fi
    if [ -n "$(cut -d' ' -f1 "${f}" | uniq -d | head -n 1)" ]; then
        fail "${f} has duplicated ids, e.g. '$(cut -d' ' -f1 "${f}" | uniq -d | head -n 1)'"
    fi
    if grep -qvE '^[^ ]+ ' "${f}"; then
        fail "${f}: line $(grep -nvE '^[^ ]+ ' "${f}" | head -n 1 | cut -d: -f1) is not '<id> <value>'"
    fi
}

cut -d' ' -f1 "${data}/utt2spk" > "${tmp}/utts"
for f in wav.scp utt2spk spk2utt text labels segments feats.scp utt2dur utt2num_frames reco2dur "${data}"/spk*.scp; do
    f=${f#"${data}/"}
    [ -f "${data}/${f}" ] || continue
    [ "${f}" = feats.scp ] && "${no_feats}" && continue
    check_table "${data}/${f}"
done

# spk2utt is utt2spk inverted
awk '{ u[$2] = u[$2] " " $1 } END { for (s in u) print s u[s] }' "${data}/utt2spk" | sort > "${tmp}/spk2utt"
if ! cmp -s "${tmp}/spk2utt" "${data}/spk2utt"; then
    fail "${data}/spk2utt is not utt2spk inverted (each line: a speaker id, then its utterances in utt2spk order; sorted)"
fi
if ! "${no_spk_sort}" && ! sort -k2,2 -k1,1 -c "${data}/utt2spk" 2>/dev/null; then
    fail "${data}/utt2spk: utterances are not in speaker order (prefix utterance ids with the speaker id)"
fi

# utterance tables cover exactly the utterances of utt2spk (wav.scp too, as there are no segments)
for f in text labels feats.scp utt2dur utt2num_frames "${data}"/spk*.scp; do
    f=${f#"${data}/"}
    [ -f "${data}/${f}" ] || continue
    [ "${f}" = feats.scp ] && "${no_feats}" && continue
    if ! cut -d' ' -f1 "${data}/${f}" | cmp -s - "${tmp}/utts"; then
        fail "${data}/${f} does not list exactly the utterances of utt2spk"
    fi
done
if [ ! -f "${data}/segments" ] && ! cut -d' ' -f1 "${data}/wav.scp" | cmp -s - "${tmp}/utts"; then
    fail "${data}/wav.scp does not list exactly the utterances of utt2spk"
fi
echo "Successfully validated data-directory ${data}"
