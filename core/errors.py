"""The error every stage stops with when the user must fix something: one line that says what and where."""


class ConfigError(Exception):
    """A configuration the user must fix; the message says what and where."""
