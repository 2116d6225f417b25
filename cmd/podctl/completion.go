package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
	"github.com/podd-dev/podd/pkg/object"
)

// completionFlag is urfave/cli's: a command line ending with it prints the words that may come next,
// taken from the command definitions themselves.
const completionFlag = "--generate-bash-completion"

// The scripts ask podctl itself for the candidates, so they follow every command and flag podctl has.
const bashCompletion = `# podctl completion for bash: source <(podctl completion bash)
_podctl_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local line=("${COMP_WORDS[@]:0:COMP_CWORD}")
    if [[ "$cur" == -* ]]; then line+=(-); fi
    COMPREPLY=($(compgen -W "$("${line[@]}" ` + completionFlag + ` 2>/dev/null)" -- "$cur"))
}
complete -o default -F _podctl_complete podctl
`

const zshCompletion = `#compdef podctl
# podctl completion for zsh: source <(podctl completion zsh)
_podctl() {
    local -a line candidates
    line=("${words[@]:0:CURRENT-1}")
    if [[ "${words[CURRENT]}" == -* ]]; then line+=(-); fi
    candidates=("${(@f)$("${line[@]}" ` + completionFlag + ` 2>/dev/null)}")
    compadd -- "${candidates[@]}"
}
compdef _podctl podctl
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh), generated from podctl's own commands",
		ArgsUsage: "bash|zsh",
		Action: func(cliContext *cli.Context) error {
			shell, err := oneArg(cliContext, "SHELL")
			if err != nil {
				return err
			}
			switch shell {
			case "bash":
				fmt.Fprint(cliContext.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(cliContext.App.Writer, zshCompletion)
			default:
				return ctl.Usagef("completion: want bash or zsh, got %q", shell)
			}
			return nil
		},
	}
}

// completeKinds offers kubectl's kind names as a command's first argument.
func completeKinds(cliContext *cli.Context) {
	if cliContext.NArg() > 0 {
		return
	}
	fmt.Fprintln(cliContext.App.Writer, "pods")
	for _, k := range object.Kinds {
		fmt.Fprintln(cliContext.App.Writer, k.Resource)
	}
}
