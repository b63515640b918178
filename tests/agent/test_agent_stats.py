"""Paired statistics: the 2x2 table, McNemar's exact p and the bootstrap interval, against known values."""
import pytest

from agent import stats


def test_table_counts_each_pair_kind():
    base = [True, True, False, False, False]
    spec = [True, False, True, True, False]
    assert stats.table(base, spec) == {"both": 1, "only_a": 1, "only_b": 2, "neither": 1}


def test_table_refuses_unpaired_lists():
    with pytest.raises(ValueError, match="differ in length"):
        stats.table([True], [True, False])


@pytest.mark.parametrize("b, c, p", [
    (0, 0, 1.0),            # no discordant pair: no evidence either way
    (1, 0, 1.0),            # one discordant task can never be significant
    (0, 6, 0.03125),        # 2 * 0.5**6
    (10, 2, 0.03857421875),  # 2 * (1 + 12 + 66) / 4096, the textbook value
    (5, 5, 1.0),
])
def test_mcnemar_exact_matches_the_binomial_tail(b, c, p):
    assert stats.mcnemar_exact(b, c) == pytest.approx(p)
    assert stats.mcnemar_exact(c, b) == pytest.approx(p)  # two-sided: symmetric


def test_bootstrap_interval_excludes_zero_only_for_a_clear_difference():
    base = [False] * 20
    clear = [True] * 15 + [False] * 5
    diff, lo, hi = stats.bootstrap_difference(base, clear, samples=2000, seed=1)
    assert diff == pytest.approx(0.75) and 0 < lo <= diff <= hi <= 1
    assert stats.verdict(lo, hi, "better", "worse") == "better"
    mixed = [True, False] * 10
    shifted = [False, True] * 10  # same rate, every task discordant
    diff, lo, hi = stats.bootstrap_difference(mixed, shifted, samples=2000, seed=1)
    assert diff == 0 and lo < 0 < hi
    assert stats.verdict(lo, hi, "better", "worse") == "no clear difference"
    assert stats.verdict(-0.5, -0.1, "better", "worse") == "worse"


def test_bootstrap_is_seeded():
    a, b = [True, False, False, True], [True, True, False, True]
    assert stats.bootstrap_difference(a, b, seed=3) == stats.bootstrap_difference(a, b, seed=3)
