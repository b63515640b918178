"""What stops a stage: ConfigError (the user must fix something; one line says what and where), and Terminated."""


class ConfigError(Exception):
    """A configuration the user must fix; the message says what and where."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`systemctl stop`, `docker stop`, `kill`), raised where Ctrl-C raises KeyboardInterrupt, so that every
    stage stops the same way for both (core.entry): one line, the previous or the new outputs, exit 143."""
