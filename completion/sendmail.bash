# bash completion for satmail's sendmail, mailq and newaliases  -*- shell-script -*-
#
# Installed as .../bash-completion/completions/sendmail; mailq and
# newaliases need a link of that name to this file for on-demand loading.
# Works with or without the bash-completion package.

# COMPREPLY from compgen ARGS..., one word per line (file names may hold
# spaces).
_satmail_reply()
{
    mapfile -t COMPREPLY < <(compgen "$@")
}

# Files, with bash-completion's _filedir when it is loaded.
_satmail_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        compopt -o filenames 2>/dev/null
        _satmail_reply -f -- "$1"
    fi
}

# -N: "never", or a comma list of success, delay, failure.  $1 is the
# word so far; $2 a prefix to keep (for "-Nsuccess,...").
_satmail_notify()
{
    local word=$1 keep=$2 done_part='' last w
    local -a words=()
    if [[ $word == *,* ]]; then
        done_part=${word%,*},
        last=${word##*,}
        for w in success delay failure; do
            [[ ,$done_part == *,$w,* ]] || words+=("$w")
        done
        [[ ,$done_part == *,never,* ]] && words=()
    else
        last=$word
        words=(never success delay failure)
    fi
    _satmail_reply -P "$keep$done_part" -W "${words[*]}" -- "$last"
}

_satmail_sendmail()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd=${COMP_WORDS[0]##*/}
    COMPREPLY=()

    # Options end at "--" or at the first argument that is no option.
    local i w rcpt=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -- ]]; then
            rcpt=1
            break
        fi
        case $w in
            -[frFCNRVBohLXdOpe]) ((i++)) ;;	# the argument follows
            -oA) ((i++)) ;;
            -*) ;;
            *) rcpt=1; break ;;
        esac
    done

    if ((!rcpt)); then
        case $prev in
            -C) _satmail_files "$cur"; return ;;
            -N) _satmail_notify "$cur" ""; return ;;
            -R) _satmail_reply -W 'full hdrs' -- "$cur"; return ;;
            -B) _satmail_reply -W '7BIT 8BITMIME' -- "$cur"; return ;;
            -oA)	# TYPE:FILE
                if [[ $cur == *:* ]]; then
                    local f
                    COMPREPLY=()
                    while IFS= read -r f; do COMPREPLY+=("${cur%%:*}:$f"); done \
                        < <(compgen -f -- "${cur#*:}")
                else
                    _satmail_reply -W 'cdb: hash: btree: texthash:' -- "$cur"
                fi
                return ;;
            -[frFVohLXdOpe]) return ;;	# free text
        esac
    fi

    case $cmd in
        mailq)
            [[ $cur == -* || -z $cur ]] &&
                _satmail_reply -W '-j -C -v' -- "$cur"
            return ;;
        newaliases)
            [[ $cur == -* || -z $cur ]] &&
                _satmail_reply -W '-oA -C -v' -- "$cur"
            return ;;
    esac

    if ((rcpt)) || [[ $cur != -* ]]; then
        # Recipients: local user names (and, for -bv, alias names); full
        # addresses are typed.
        [[ $cur == *@* ]] && return
        _satmail_reply -u -- "$cur"
        if [[ " ${COMP_WORDS[*]} " == *" -bv "* && -r /etc/aliases ]]; then
            local a
            for a in $(awk -F: '/^[^#[:space:]]/ { print tolower($1) }' /etc/aliases); do
                [[ $a == "$cur"* ]] && COMPREPLY+=("$a")
            done
        fi
        return
    fi

    case $cur in
        -N?*) _satmail_notify "${cur#-N}" "-N" ;;
        -R?*) _satmail_reply -P -R -W 'full hdrs' -- "${cur#-R}" ;;
        -B?*) _satmail_reply -P -B -W '7BIT 8BITMIME' -- "${cur#-B}" ;;
        -b*) _satmail_reply -W '-bm -bp -bi -bv -bs' -- "$cur" ;;
        -od*) _satmail_reply -W '-odb -odi -odq' -- "$cur" ;;
        -oe*) _satmail_reply -W '-oem -oep -oeq' -- "$cur" ;;
        -o*) _satmail_reply -W '-oi -odb -odi -odq -oem -oep -oeq' -- "$cur" ;;
        -q*) _satmail_reply -W '-q -qI -qR' -- "$cur" ;;
        *)
            local opts='-t -i -oi -f -r -F -N -R -V -B -C -v
                -bm -bp -bi -bv -bs -q -I -odb -odi -odq -oem -oep -oeq
                -- --help --version'
            # -j belongs to -bp.
            [[ " ${COMP_WORDS[*]} " == *" -bp "* ]] && opts+=' -j'
            _satmail_reply -W "$opts" -- "$cur"
            ;;
    esac
}

complete -F _satmail_sendmail sendmail mailq newaliases
