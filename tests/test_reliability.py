"""Issue 8: every bad input refused quickly with a message naming the argument; determinism."""

import time

import numpy as np
import pytest

import odeflow as of

GOOD = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
TGT = np.array([[2.0, 2.0], [3.0, 1.0], [1.0, 3.0]])


def _sim(**kw):
    args = dict(src=GOOD, tgt=TGT, h=0.1, t_end=0.2, progress=False)
    args.update(kw)
    return of.simulate(**args)


BAD_INPUTS = [
    # (label, call, exception, word the message must contain)
    ("nan point", lambda: of.Cloud([[0.0, np.nan]]), ValueError, "points"),
    ("inf point", lambda: of.kantorovich([[np.inf, 0.0]], TGT), ValueError, "src"),
    ("1-D array", lambda: of.Cloud(np.zeros(3)), ValueError, "points"),
    ("3-D array", lambda: of.Cloud(np.zeros((2, 2, 2))), ValueError, "points"),
    ("empty cloud", lambda: of.Cloud(np.zeros((0, 2))), ValueError, "points"),
    ("string points", lambda: of.Cloud("points"), TypeError, "points"),
    ("negative weight", lambda: of.Cloud(GOOD, [1.2, -0.1, -0.1]), ValueError, "weights"),
    ("nan weight", lambda: of.Cloud(GOOD, [np.nan, 0.5, 0.5]), ValueError, "weights"),
    ("weights wrong length", lambda: of.Cloud(GOOD, [0.5, 0.5]), ValueError, "weights"),
    ("weights not summing to 1", lambda: of.Cloud(GOOD, [1.0, 1.0, 1.0]), ValueError, "weights"),
    ("dimension mismatch", lambda: of.kantorovich(GOOD, [[1.0, 2.0, 3.0]]), ValueError, "tgt"),
    ("unknown loss", lambda: of.kantorovich(GOOD, TGT, loss="w3"), ValueError, "loss"),
    ("loss of wrong type", lambda: of.kantorovich(GOOD, TGT, loss=2), TypeError, "loss"),
    ("unknown method", lambda: of.kantorovich(GOOD, TGT, method="sinkhorn"), ValueError, "method"),
    ("unknown scheme", lambda: _sim(scheme="leapfrog"), ValueError, "scheme"),
    ("unknown persistence mode", lambda: _sim(persistence_mode="stale"), ValueError, "persistence_mode"),
    ("unknown dataset", lambda: of.datasets.get("mnist", 10), ValueError, "name"),
    ("unknown problem", lambda: of.datasets.problem("mnist", 10), ValueError, "name"),
    ("h zero", lambda: _sim(h=0.0), ValueError, "h"),
    ("h negative", lambda: _sim(h=-0.1), ValueError, "h"),
    ("h nan", lambda: _sim(h=float("nan")), ValueError, "h"),
    ("h infinite", lambda: _sim(h=float("inf")), ValueError, "h"),
    ("w2 with h > 1", lambda: _sim(h=1.5), ValueError, "h"),
    ("t_end zero", lambda: _sim(t_end=0.0), ValueError, "t_end"),
    ("t_end nan", lambda: _sim(t_end=float("nan")), ValueError, "t_end"),
    ("t_end string", lambda: _sim(t_end="1"), TypeError, "t_end"),
    ("persistence zero", lambda: _sim(persistence=0), ValueError, "persistence"),
    ("persistence float", lambda: _sim(persistence=2.5), TypeError, "persistence"),
    ("persistence rate zero", lambda: _sim(persistence_rate=0.0), ValueError, "persistence_rate"),
    ("persistence rate above one", lambda: _sim(persistence_rate=1.01), ValueError, "persistence_rate"),
    ("onedim on 2-D", lambda: of.kantorovich(GOOD, TGT, method="onedim"), ValueError, "method"),
    ("wasserstein p=3", lambda: of.wasserstein(GOOD, TGT, p=3), ValueError, "p"),
    ("record_every zero", lambda: _sim(record_every=0), ValueError, "record_every"),
    ("negative seed", lambda: _sim(rng=-1), ValueError, "rng"),
    ("dataset n zero", lambda: of.datasets.get("ring8", 0), ValueError, "n"),
    ("unknown solver option", lambda: of.kantorovich(GOOD, TGT, method="exact", tolerance=1), TypeError, "tolerance"),
    ("max_iter zero", lambda: of.kantorovich(GOOD, TGT, method="exact", max_iter=0), ValueError, "max_iter"),
]


@pytest.mark.parametrize("label, call, exc, word", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_quickly_naming_the_argument(label, call, exc, word):
    start = time.perf_counter()
    with pytest.raises(exc) as info:
        call()
    assert time.perf_counter() - start < 1.0
    assert word in str(info.value), f"{label}: message {str(info.value)!r} does not name {word!r}"


def test_there_are_at_least_25_distinct_bad_inputs():
    assert len({label for label, *_ in BAD_INPUTS}) >= 25


def test_huge_exact_problem_is_refused_instantly_by_the_memory_guard():
    n = 300_000
    big = of.Cloud(np.zeros((n, 2)))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="memory budget") as info:
        of.kantorovich(big, big, method="exact")
    assert time.perf_counter() - start < 1.0
    assert "semidiscrete" in str(info.value)


def test_memory_budget_can_be_overridden(monkeypatch):
    monkeypatch.setenv("ODEFLOW_MEMORY_BUDGET", "1K")
    with pytest.raises(ValueError, match="ODEFLOW_MEMORY_BUDGET"):
        of.kantorovich(np.zeros((30, 2)), np.ones((30, 2)), method="exact")
    monkeypatch.setenv("ODEFLOW_MEMORY_BUDGET", "lots")
    with pytest.raises(ValueError, match="ODEFLOW_MEMORY_BUDGET"):
        of.kantorovich(np.zeros((3, 2)), np.ones((3, 2)), method="exact")


@pytest.mark.parametrize("loss", ["w2", "w1"])
def test_simulation_is_byte_identical_for_identical_inputs(loss):
    def once():
        src, tgt = of.datasets.problem("4gaussians", 80, rng=7)
        return of.simulate(src, tgt, loss=loss, h=0.2, t_end=1.0, progress=False)

    a, b = once(), once()
    assert a.points.tobytes() == b.points.tobytes()
    assert a.distance.tobytes() == b.distance.tobytes()
    assert a.drift.tobytes() == b.drift.tobytes()


def test_datasets_are_reproducible_from_the_seed():
    for name in of.datasets.NAMES:
        a = of.datasets.get(name, 50, rng=3).points
        b = of.datasets.get(name, 50, rng=np.random.default_rng(3)).points
        assert a.tobytes() == b.tobytes()
        assert a.tobytes() != of.datasets.get(name, 50, rng=4).points.tobytes()
