import re


def slugify(text):
    """Lower-case words joined by dashes, for URLs."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))
