# utils/parse_options.sh: Kaldi/ESPnet-style command-line options for shell scripts.
#
# SOURCE it (do not run it) after the script's defaults and help message:
#
#     stage=1            # plain shell variables are the options
#     stop_stage=100
#     mini=false
#     help_message="Usage: $0 [options] <dir>"
#     . utils/parse_options.sh
#     [ $# -eq 1 ] || { echo "${help_message}" >&2; exit 1; }
#
# Rules (it works under `set -euo pipefail`):
#   --foo-bar VALUE   sets the EXISTING variable foo_bar (dashes become underscores,
#                     so --stop-stage and --stop_stage are the same option).
#                     An undefined variable, or an environment variable (exported, e.g.
#                     PATH: not one of the script's options) -> "invalid option --foo-bar", exit 1.
#                     The value is assigned verbatim (spaces, quotes and $ are kept;
#                     nothing is evaluated).
#   true/false        if the variable currently holds true or false, the new value
#                     must be true or false too.
#   --config FILE     reads FILE, an options file, before the other options are applied, so the
#                     command line wins over the file. It is read, never run: each line is blank,
#                     a `# comment`, or `option=value` for an existing option, where value is
#                     taken literally: a bare word (no spaces or quotes), or anything between
#                     '...' or "..." (no escapes; $, ` and \ are plain characters), optionally
#                     followed by spaces and a `# comment`. The checks of the command line apply
#                     (true/false, --cmd not empty). Anything else (e.g. a YAML training config)
#                     is one error naming the file and the line. Exception: if the
#                     calling script defines its own variable `config`, --config is an
#                     ordinary option that sets it (e.g. local/train.sh --config x.yaml).
#   --help, -h        prints ${help_message} to stdout and exits 0.
#   --                ends the options (it is removed).
#   Parsing stops at the first argument that does not start with "--"; the caller's
#   positional parameters are shifted past the options. Also rejected: a missing value,
#   the form --foo=VALUE, and an empty --cmd.
# Helper names start with __po_ and are removed again at the end.

__po_die() {
    echo "ERROR: $0: $*" >&2
    exit 1
}

# an option is a shell variable of the script, not an exported environment variable
__po_is_option() {
    [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && [ -n "${!1+set}" ] && [[ ! "$(declare -p "$1" 2>/dev/null)" =~ ^declare\ -[a-zA-Z]*x ]]
}

# set option $1 to $2 as given by $3 (the option's flag, or the options file and line)
__po_set() {
    case "${!1}" in
        true | false)
            case "$2" in
                true | false) ;;
                *) __po_die "$3 takes true or false, got '$2'" ;;
            esac
            ;;
    esac
    if [ "$1" = cmd ] && [ -z "$2" ]; then
        __po_die "$3 must not be empty"
    fi
    printf -v "$1" '%s' "$2"
}

# read an options file (see the header): set each option, run nothing
# (locals start with __po_ so that they never hide an option of the same name)
__po_read_options_file() {
    local __po_n=0 __po_line __po_key __po_value __po_rest
    local __po_assignment='^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)='
    local __po_literal="^\"([^\"]*)\"|^'([^']*)'|^([^[:space:]\"']*)"   # "...", '...' or a bare word
    while IFS= read -r __po_line || [ -n "${__po_line}" ]; do
        __po_n=$((__po_n + 1))
        [[ "${__po_line}" =~ ^[[:space:]]*(#.*)?$ ]] && continue
        if ! [[ "${__po_line}" =~ ${__po_assignment} ]]; then
            __po_die "--config $1 is not an options file (line ${__po_n}: '${__po_line}'): it must hold option=value lines. A YAML training config goes to --tag_head_config, --tag_blocks_config or --sep_config"
        fi
        __po_key=${BASH_REMATCH[1]}
        __po_is_option "${__po_key}" || __po_die "--config $1, line ${__po_n}: '${__po_key}' is not an option of $0"
        __po_value=${__po_line#*=}
        [[ "${__po_value}" =~ ${__po_literal} ]]   # always matches (a bare word may be empty)
        __po_rest=${__po_value:${#BASH_REMATCH[0]}}
        __po_value=${BASH_REMATCH[1]-}${BASH_REMATCH[2]-}${BASH_REMATCH[3]-}
        if ! [[ "${__po_rest}" =~ ^[[:space:]]*(#.*)?$ ]]; then
            __po_die "--config $1, line ${__po_n}: cannot read '${__po_line}': write ${__po_key}=value, a value with spaces or quotes in '...' or \"...\" (nothing in the file is run)"
        fi
        __po_set "${__po_key}" "${__po_value}" "--config $1, line ${__po_n}: ${__po_key}"
    done < "$1"
}

# 1) --config FILE (only when the caller has no variable of its own named config):
#    walk the leading option/value pairs and read the file first.
if [ -z "${config+set}" ]; then
    __po_args=("$@")
    __po_i=0
    while [ "${__po_i}" -lt "${#__po_args[@]}" ]; do
        case "${__po_args[__po_i]}" in
            --config)
                [ $((__po_i + 1)) -lt "${#__po_args[@]}" ] || __po_die "option --config needs a value"
                __po_file=${__po_args[__po_i + 1]}
                [ -r "${__po_file}" ] || __po_die "config file '${__po_file}' not found"
                __po_read_options_file "${__po_file}"
                __po_i=$((__po_i + 2))
                ;;
            --help | -h | --) break ;;
            --*) __po_i=$((__po_i + 2)) ;;
            *) break ;;
        esac
    done
    __po_config_read=true
else
    __po_config_read=false
fi

# 2) the options themselves.
while [ $# -gt 0 ]; do
    case "$1" in
        --help | -h)
            if [ -n "${help_message:-}" ]; then
                printf '%s\n' "${help_message}"
            else
                echo "No help found."
            fi
            exit 0
            ;;
        --)
            shift
            break
            ;;
        --*=*)
            __po_die "invalid option $1: write '${1%%=*} VALUE' (a space, not '=')"
            ;;
        --config)
            if "${__po_config_read}"; then  # already read above
                shift 2
                continue
            fi
            ;;&
        --?*)
            __po_name=${1#--}
            __po_name=${__po_name//-/_}
            if ! __po_is_option "${__po_name}"; then
                __po_die "invalid option $1"
            fi
            [ $# -ge 2 ] || __po_die "option $1 needs a value"
            __po_set "${__po_name}" "$2" "option $1"
            shift 2
            ;;
        *)
            break
            ;;
    esac
done

unset -v __po_args __po_i __po_file __po_name __po_config_read
unset -f __po_die __po_is_option __po_set __po_read_options_file
true
