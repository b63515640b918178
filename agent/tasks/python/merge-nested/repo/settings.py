def merge(base, override):
    """base updated with override."""
    out = dict(base)
    out.update(override)
    return out
