# bash completion for satmail's postsuper  -*- shell-script -*-
#
# Installed as .../bash-completion/completions/postsuper.  Completes the
# options, and after -d/-h/-H/-r: ALL, "-", and the queue IDs mailq
# lists (for -H only the held ones, for -h only those not held).

_satmail_postsuper_ids()
{
    # mailq lines that start an entry: QUEUEID[*!] SIZE DATE SENDER
    mailq 2>/dev/null | awk -v want="$1" '
        /^[0-9A-F]+[*!]? / {
            id = $1; held = id ~ /!$/; sub(/[*!]$/, "", id)
            if (want == "held" && !held) next
            if (want == "unheld" && held) next
            print id
        }'
}

_satmail_postsuper()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD-1]}
    local ids
    case $prev in
        -c)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return ;;
        -d|-r) ids=$(_satmail_postsuper_ids all) ;;
        -h) ids=$(_satmail_postsuper_ids unheld) ;;
        -H) ids=$(_satmail_postsuper_ids held) ;;
        *)
            mapfile -t COMPREPLY < <(compgen -W '-d -h -H -r -c -v' -- "$cur")
            return ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "ALL - $ids" -- "$cur")
}
complete -F _satmail_postsuper postsuper
