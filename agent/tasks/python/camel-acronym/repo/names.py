import re


def snake_case(name):
    """camelCase or PascalCase name in snake_case."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
