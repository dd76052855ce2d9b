"""The command groups of `runwire`, one module each (see `runwire.cli.framework`)."""
