"""How counts read in messages people see: "1 order", "2 orders"."""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
