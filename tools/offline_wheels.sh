#!/usr/bin/env bash
# Wheels for a node without internet (a GPU node behind a firewall) that already has Python,
# torch and some of the stack: everything tools/venv holds that the node lacks, for the node's
# CPython version on manylinux x86-64. Run here (with the registry reachable), after make -C tools:
#
#   tools/offline_wheels.sh DEST PYVER [HAVE]
#     DEST   folder for the wheels (made; existing wheels are kept)
#     PYVER  the node's CPython, e.g. 3.12
#     HAVE   the node's packages: its `python -m pip list --format=freeze`, or one name a line
#            (default: none, so every package of tools/venv but this project)
#
# A package with no binary wheel for PYVER is built here into a pure-Python wheel where its
# sdist allows (pip wheel --no-deps); one that needs compiling is listed as skipped (e.g. pyworld,
# which only espnet's TTS imports). On the node, from the repository root:
#
#   python -m pip install -q --no-index --no-deps --target /tmp/site DEST/*.whl
#   export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "ERROR: usage: tools/offline_wheels.sh DEST PYVER [HAVE] (e.g. tools/offline_wheels.sh .whl 3.12)" >&2
    exit 2
fi
dest=$1; pyver=$2; have=${3:-/dev/null}
venv_python=$(cd "$(dirname "$0")" && pwd)/venv/bin/python
[ -x "${venv_python}" ] || { echo "ERROR: ${venv_python} not found: run make -C tools first" >&2; exit 2; }
[[ "${pyver}" =~ ^3\.[0-9]+$ ]] || { echo "ERROR: PYVER '${pyver}' is not a CPython version like 3.12" >&2; exit 2; }
[ -r "${have}" ] || { echo "ERROR: HAVE file ${have} not readable" >&2; exit 2; }
mkdir -p "${dest}" 2>/dev/null && [ -w "${dest}" ] || { echo "ERROR: DEST ${dest}: cannot create or write it; give a writable folder" >&2; exit 2; }

norm() { tr 'A-Z_.' 'a-z--' | sed -e 's/--*/-/g'; }
present=$(sed -e 's/[=<>@ ].*//' "${have}" | norm | sort -u)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64 any; do
    platforms+=(--platform "${p}")
done
fetched=0; built=0; skipped=()
while IFS= read -r req; do
    name=$(echo "${req%%==*}" | norm)
    { [ "${name}" = dcase26t4 ] || grep -qx "${name}" <<< "${present}"; } && continue
    if "${venv_python}" -m pip download -q --no-deps --only-binary=:all: --python-version "${pyver}" \
            --implementation cp "${platforms[@]}" -d "${dest}" "${req}" > /dev/null 2>&1; then
        fetched=$((fetched + 1))
    elif "${venv_python}" -m pip wheel -q --no-deps -w "${dest}" "${req}" > /dev/null 2>&1 \
            && ls "${dest}" | grep -qi "^$(echo "${name}" | tr '-' '_')-.*-py[23]*-none-any\.whl$"; then
        built=$((built + 1))
    else
        rm -f "${dest}"/"$(echo "${name}" | tr '-' '_')"-*-cp*.whl
        skipped+=("${req}")
    fi
done < <("${venv_python}" -m pip list --format=freeze --exclude-editable 2>/dev/null)
echo "offline_wheels: ${fetched} downloaded, ${built} built as pure-Python wheels, ${#skipped[@]} skipped" \
     "(${skipped[*]:-none}); $(du -sh "${dest}" | cut -f1) in ${dest}"
