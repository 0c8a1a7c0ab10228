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
#   --config FILE     sources FILE (shell assignments) before the other options are
#                     applied, so the command line wins over the file. FILE must hold only
#                     comments and `option=value` lines for existing options; anything else
#                     (e.g. a YAML training config) is refused before it is run. Exception: if the
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

# refuse an options file that is not `option=value` lines for existing options
__po_check_options_file() {
    local n=0 line name
    while IFS= read -r line || [ -n "${line}" ]; do
        n=$((n + 1))
        [[ "${line}" =~ ^[[:space:]]*(#.*)?$ ]] && continue
        if ! [[ "${line}" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)= ]]; then
            __po_die "--config $1 is not an options file (line ${n}: '${line}'): it must hold option=value lines. A YAML training config goes to --tag_head_config, --tag_blocks_config or --sep_config"
        fi
        name=${BASH_REMATCH[1]}
        __po_is_option "${name}" || __po_die "--config $1, line ${n}: '${name}' is not an option of $0"
    done < "$1"
}

# 1) --config FILE (only when the caller has no variable of its own named config):
#    walk the leading option/value pairs and source the file first.
if [ -z "${config+set}" ]; then
    __po_args=("$@")
    __po_i=0
    while [ "${__po_i}" -lt "${#__po_args[@]}" ]; do
        case "${__po_args[__po_i]}" in
            --config)
                [ $((__po_i + 1)) -lt "${#__po_args[@]}" ] || __po_die "option --config needs a value"
                __po_file=${__po_args[__po_i + 1]}
                [ -r "${__po_file}" ] || __po_die "config file '${__po_file}' not found"
                __po_check_options_file "${__po_file}"
                # shellcheck disable=SC1090
                . "${__po_file}"
                __po_i=$((__po_i + 2))
                ;;
            --help | -h | --) break ;;
            --*) __po_i=$((__po_i + 2)) ;;
            *) break ;;
        esac
    done
    __po_config_sourced=true
else
    __po_config_sourced=false
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
            if "${__po_config_sourced}"; then  # already sourced above
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
            case "${!__po_name}" in
                true | false)
                    case "$2" in
                        true | false) ;;
                        *) __po_die "option $1 takes true or false, got '$2'" ;;
                    esac
                    ;;
            esac
            if [ "${__po_name}" = cmd ] && [ -z "$2" ]; then
                __po_die "option --cmd must not be empty"
            fi
            printf -v "${__po_name}" '%s' "$2"
            shift 2
            ;;
        *)
            break
            ;;
    esac
done

unset -v __po_args __po_i __po_file __po_name __po_config_sourced
unset -f __po_die __po_is_option __po_check_options_file
true
