"""An independent Sudoku oracle for the tests: plain backtracking over Python sets."""

def _units():
    rows = [[9 * r + c for c in range(9)] for r in range(9)]
    cols = [[9 * r + c for r in range(9)] for c in range(9)]
    boxes = [
        [9 * (3 * br + i) + 3 * bc + j for i in range(3) for j in range(3)]
        for br in range(3)
        for bc in range(3)
    ]
    return rows + cols + boxes


UNITS = _units()
PEERS = [set().union(*(u for u in UNITS if i in u)) - {i} for i in range(81)]


def oracle_count(grid, limit=2):
    """Number of completions (up to limit) by backtracking on the cell with the fewest options."""
    g = [int(v) for v in grid]
    for i in range(81):
        if g[i] and any(g[j] == g[i] for j in PEERS[i]):
            return 0

    def rec():
        best, options = None, None
        for i in range(81):
            if g[i] == 0:
                opts = set(range(1, 10)) - {g[j] for j in PEERS[i]}
                if options is None or len(opts) < len(options):
                    best, options = i, opts
        if best is None:
            return 1
        total = 0
        for d in sorted(options):
            g[best] = d
            total += rec()
            g[best] = 0
            if total >= limit:
                break
        return total

    return min(rec(), limit)


def oracle_valid(puzzle, solution):
    s = [int(v) for v in solution]
    return all(sorted(s[i] for i in u) == list(range(1, 10)) for u in UNITS) and all(
        p == 0 or p == v for p, v in zip(puzzle, s)
    )
