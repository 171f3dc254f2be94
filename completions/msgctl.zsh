
#compdef msgctl

_msgctl_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _MSGCTL_COMPLETE=complete_zsh msgctl)
}

compdef _msgctl_completion msgctl

