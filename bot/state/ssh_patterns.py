"""OpenSSH's pattern lists (match.c), as allowed-signers files use them for principals and
namespaces: `*` and `?` wildcards, `,` between patterns, `!` before one that excludes."""

_SUBPATTERN_MAX = 1023  # match_pattern_list gives up (no match) on a longer one


def match_pattern(string: str, pattern: str) -> bool:
    """`*` any run, `?` any one character; linear in practice (no backtracking past the last
    star)."""
    s = p = 0
    star, mark = -1, 0
    while s < len(string):
        if p < len(pattern) and pattern[p] in ("?", string[s]) and pattern[p] != "*":
            s, p = s + 1, p + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark, p = p, s, p + 1
        elif star != -1:
            mark += 1
            s, p = mark, star + 1
        else:
            return False
    return all(c == "*" for c in pattern[p:])


def match_pattern_list(string: str, patterns: str) -> int:
    """1 if a pattern matches, -1 if a negated (`!`) one does, else 0."""
    positive = 0
    i = 0
    while i < len(patterns):
        negated = patterns[i] == "!"
        if negated:
            i += 1
        end = patterns.find(",", i)
        end = len(patterns) if end == -1 else end
        sub = patterns[i:end]
        if len(sub) >= _SUBPATTERN_MAX:
            return 0
        i = end + 1 if end < len(patterns) else end
        if match_pattern(string, sub):
            if negated:
                return -1
            positive = 1
    return positive
