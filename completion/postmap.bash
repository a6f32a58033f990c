# bash completion for satmail's postmap  -*- shell-script -*-
#
# Installed as .../bash-completion/completions/postmap.  Completes the
# options, and table arguments as "type:" followed by a file name
# (inline:{ and static: take free text).  Works with or without the
# bash-completion package, and whether or not ':' breaks words.

_satmail_postmap_reply()
{
    mapfile -t COMPREPLY < <(compgen "$@")
}

# The word being completed, as typed: COMP_WORDS splits "cdb:/etc/x" at
# the colon when ':' is in COMP_WORDBREAKS (the default).
_satmail_postmap_word()
{
    local line=${COMP_LINE:0:COMP_POINT}
    printf '%s' "${line##*[[:space:]]}"
}

# A table argument: a type prefix, or a file after one.
_satmail_postmap_table()
{
    local word=$1 type rest
    local types='cdb: hash: btree: texthash: regexp: pcre: inline:{ static: fail:'
    if [[ $word == *:* ]]; then
        type=${word%%:*}
        rest=${word#*:}
        case $type in
            inline|static|fail) COMPREPLY=(); return ;;
        esac
        compopt -o filenames 2>/dev/null
        _satmail_postmap_reply -P "$type:" -f -- "$rest"
    else
        _satmail_postmap_reply -W "$types" -- "$word"
        local -a files
        mapfile -t files < <(compgen -f -- "$word")
        COMPREPLY+=("${files[@]}")
        # "cdb:" goes on without a space.
        [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *[:{] ]] &&
            compopt -o nospace 2>/dev/null
        compopt -o filenames 2>/dev/null
    fi
    # bash replaces only the text after the last word-breaking colon.
    if [[ $COMP_WORDBREAKS == *:* && $word == *:* ]]; then
        local colon=${word%"${word##*:}"} i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
        done
    fi
}

_satmail_postmap()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()

    case $prev in
        -C) compopt -o filenames 2>/dev/null; _satmail_postmap_reply -f -- "$cur"; return ;;
        -c) compopt -o filenames 2>/dev/null; _satmail_postmap_reply -d -- "$cur"; return ;;
        -q|-d) _satmail_postmap_reply -W '-' -- "$cur"; return ;;	# a key, or - for stdin
    esac

    # Options end at the first table (no reordering, as Postfix).
    local i w tables=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            -[Ccdq]) ((i++)) ;;
            -*) ;;
            :) ;;
            *) tables=1 ;;
        esac
    done

    if ((!tables)) && [[ $cur == -* ]]; then
        _satmail_postmap_reply -W '-f -i -N -n -o -p -r -s -u -U -v -w
            -C -c -d -q -h --help' -- "$cur"
        return
    fi
    _satmail_postmap_table "$(_satmail_postmap_word)"
}

complete -F _satmail_postmap postmap
