import re

UNITS = {"h": 3600, "m": 3600, "s": 1}


def parse_duration(text):
    """'1h30m10s' in seconds."""
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([hms])", text))
