# bash completion for sipsvc
_sipsvc()
{
	local cur prev cmds types
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cmds="status devices join call switch invite hangup calls share unshare shares search fetch tunnel events send"
	types="call conference incoming tunnel overlay search transfer device-choice log"
	local i cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--socket|--port|--timeout) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $prev in
	--socket|--to) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--mode) COMPREPLY=($(compgen -W "loop transfer" -- "$cur")); return ;;
	--leg) COMPREPLY=($(compgen -W "device remote" -- "$cur")); return ;;
	--dev)
		COMPREPLY=($(compgen -W "$(sipsvc --xml devices 2>/dev/null |
			grep -o 'id="[^"]*"' | cut -d'"' -f2)" -- "$cur"))
		return ;;
	esac
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$cmds --socket --port --xml --timeout --help --version" -- "$cur"))
		return
	fi
	case $cmd in
	share|unshare) COMPREPLY=($(compgen -f -- "$cur")) ;;
	events) COMPREPLY=($(compgen -W "$types" -- "$cur")) ;;
	join) COMPREPLY=($(compgen -W "--dev --mode" -- "$cur")) ;;
	search) COMPREPLY=($(compgen -W "--timeout --max" -- "$cur")) ;;
	fetch) COMPREPLY=($(compgen -W "--from --to" -- "$cur")) ;;
	tunnel) COMPREPLY=($(compgen -W "--header --body --body-type --call --leg" -- "$cur")) ;;
	switch|invite) COMPREPLY=($(compgen -W "--call" -- "$cur")) ;;
	esac
}
complete -F _sipsvc sipsvc
