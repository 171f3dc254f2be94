"""The library under the CLI: ``msgctl.Client`` and what its calls return.

It prints nothing, prompts for nothing and installs no signal handlers; warnings go to the client's
``on_warning`` callback (by default the ``msgctl`` logger), progress to ``on_progress`` callbacks.
"""
