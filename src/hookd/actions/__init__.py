"""What a hook can do: run a process, forward over HTTP, keep a git mirror, call Python."""
