"""Comparing two benchmark runs per scenario (regressions first, flips, scenarios in one
run only, repeats by their means), a benchmark's score history, and `benchmarks compare`
on the command line. The runs are written into the store as the runner leaves them."""

from __future__ import annotations

import json

import pytest

from sandbench.cli.main import main
from sandbench.errors import NotFound
from sandbench.model.benchmark import CaseState
from sandbench.model.runs import RunState, ScorerState, Solution
from sandbench.runner.benchmark_comparison import (
    Change,
    Flip,
    compare_benchmark_runs,
    comparison_document,
    score_history,
)
from sandbench.runner.benchmark_runs import complete_external, start_external
from sandbench.store import Store
from tests.benchmark_support import benchmark_of, record_run

NAMES = ["alpha", "beta", "gamma", "delta", "eps"]
INFRA = (CaseState.FAILED, "infrastructure: the sandbox died")


def two_runs(store: Store) -> tuple[str, str]:
    """A then B of one benchmark: alpha passes then fails, gamma drops, beta rises, delta
    had no score in A, eps is not in B (a filtered run)."""
    bench = benchmark_of(store, "core", NAMES)
    a = record_run(
        store,
        bench,
        {"alpha": [1.0], "beta": [0.5], "gamma": [1.0], "delta": [INFRA], "eps": [0.2]},
    )
    b = record_run(store, bench, {"alpha": [0.0], "beta": [0.75], "gamma": [0.75], "delta": [1.0]})
    return a.id, b.id


def test_regressions_come_first_most_negative_first_then_the_rest(store: Store) -> None:
    a, b = two_runs(store)
    comparison = compare_benchmark_runs(store, a, b)
    assert [(r.name, r.change, r.delta) for r in comparison.rows] == [
        ("alpha", Change.REGRESSED, -1.0),
        ("gamma", Change.REGRESSED, -0.25),
        ("beta", Change.IMPROVED, 0.25),
        ("delta", Change.UNSCORED, None),
        ("eps", Change.ONLY_A, None),
    ]
    assert [(r.name, r.flip) for r in comparison.flips] == [
        ("alpha", Flip.PASS_TO_FAIL),
        ("gamma", Flip.PASS_TO_FAIL),  # 1.0 then 0.75: it no longer passes
    ]
    delta = next(r for r in comparison.rows if r.name == "delta")
    assert delta.a is not None and delta.a.score is None
    assert (delta.a.state, delta.a.reason) == ("failed", "infrastructure: the sandbox died")
    assert delta.flip is None  # a run with no score is not a fail: no flip
    assert comparison.counts["regressed"] == 2 and comparison.counts["pass_to_fail"] == 2
    assert comparison.same_benchmark
    assert comparison.a.benchmark_name == "core"


def test_a_fail_to_pass_and_the_unchanged(store: Store) -> None:
    bench = benchmark_of(store, "pair", ["alpha", "beta"])
    a = record_run(store, bench, {"alpha": [0.5], "beta": [0.25]})
    b = record_run(store, bench, {"alpha": [1.0], "beta": [0.25]})
    rows = compare_benchmark_runs(store, a.id, b.id).rows
    assert [(r.name, r.change, r.flip) for r in rows] == [
        ("alpha", Change.IMPROVED, Flip.FAIL_TO_PASS),
        ("beta", Change.UNCHANGED, None),
    ]


def test_runs_of_different_benchmarks_compare_on_the_scenarios_they_share(
    store: Store,
) -> None:
    first = benchmark_of(store, "left", ["alpha", "beta"])
    second = benchmark_of(store, "right", ["beta", "gamma"])
    a = record_run(store, first, {"alpha": [1.0], "beta": [1.0]})
    b = record_run(store, second, {"beta": [0.5], "gamma": [1.0]})
    comparison = compare_benchmark_runs(store, a.id, b.id)
    assert [(r.name, r.change) for r in comparison.rows] == [
        ("beta", Change.REGRESSED),
        ("alpha", Change.ONLY_A),
        ("gamma", Change.ONLY_B),
    ]
    assert not comparison.same_benchmark
    assert [h.benchmark_name for h in comparison.histories] == ["right", "left"]


def test_with_repeats_each_side_is_the_scenarios_mean(store: Store) -> None:
    bench = benchmark_of(store, "repeated", ["alpha", "beta"])
    a = record_run(store, bench, {"alpha": [1.0, 1.0, 1.0], "beta": [0.0, 0.0, 0.0]})
    b = record_run(store, bench, {"alpha": [1.0, 0.0, 1.0], "beta": [1.0, 1.0, 1.0]})
    assert b.settings.repeats == 3 and b.scenario_stats  # the stored stats are what is read
    rows = {r.name: r for r in compare_benchmark_runs(store, a.id, b.id).rows}
    alpha, beta = rows["alpha"], rows["beta"]
    assert alpha.score_a == 1.0 and alpha.score_b == pytest.approx(2 / 3)
    assert alpha.flip == Flip.PASS_TO_FAIL and alpha.b is not None and alpha.b.runs == 3
    assert beta.delta == 1.0 and beta.flip == Flip.FAIL_TO_PASS


def test_an_interrupted_run_compares_on_what_it_finished(store: Store) -> None:
    bench = benchmark_of(store, "cut", ["alpha", "beta"])
    a = record_run(store, bench, {"alpha": [1.0], "beta": [1.0]})
    b = record_run(store, bench, {"alpha": [1.0], "beta": [(CaseState.RUNNING, "")]}, finish=False)
    store.interrupt_benchmark_run(b.id, "interrupted: the process exited")
    rows = compare_benchmark_runs(store, a.id, b.id).rows
    assert [(r.name, r.change) for r in rows] == [
        ("alpha", Change.UNCHANGED),
        ("beta", Change.UNSCORED),
    ]
    assert rows[1].b is not None and rows[1].b.state == "interrupted"


def test_a_run_a_client_drove_compares_on_its_scenario_runs(store: Store) -> None:
    bench = benchmark_of(store, "api", ["alpha"])
    a = record_run(store, bench, {"alpha": [1.0]})
    external = start_external(store, bench.id)
    scenario_id = bench.scenario_ids[0]
    scored = store.create_run(scenario_id, 1, Solution.EXTERNAL, benchmark_run_id=external.id)
    result = store.start_scorer(scored.id, "tests", "command_scorer", 1.0)
    store.finish_scorer(result.id, ScorerState.COMPLETE, score=0.5)
    store.set_run_state(scored.id, RunState.COMPLETED)
    b = complete_external(store, external.id)
    rows = compare_benchmark_runs(store, a.id, b.id).rows
    assert [(r.name, r.score_a, r.score_b, r.change) for r in rows] == [
        ("alpha", 1.0, 0.5, Change.REGRESSED)
    ]


def test_score_history_is_oldest_first(store: Store) -> None:
    bench = benchmark_of(store, "nightly", ["alpha", "beta"])
    scores = [(0.5, 0.0), (1.0, 0.5), (1.0, 1.0)]
    ids = [record_run(store, bench, {"alpha": [x], "beta": [y]}).id for x, y in scores]
    history = score_history(store, bench.id)
    assert [p.run_id for p in history.points] == ids
    assert [p.score for p in history.points] == [0.25, 0.75, 1.0]
    assert history.benchmark_name == "nightly"


def test_an_unknown_run_is_named(store: Store) -> None:
    a, _ = two_runs(store)
    with pytest.raises(NotFound, match="bmr_nope"):
        compare_benchmark_runs(store, a, "bmr_nope")


def test_the_document_carries_every_row_in_order(store: Store) -> None:
    a, b = two_runs(store)
    document = comparison_document(compare_benchmark_runs(store, a, b))
    assert document["a"]["id"] == a and document["b"]["id"] == b
    assert [s["name"] for s in document["scenarios"]] == ["alpha", "gamma", "beta", "delta", "eps"]
    first = document["scenarios"][0]
    assert (first["score_a"], first["score_b"], first["delta"], first["flip"]) == (
        1.0,
        0.0,
        -1.0,
        "pass_to_fail",
    )
    assert document["counts"]["only_a"] == 1
    assert [len(h["runs"]) for h in document["histories"]] == [2]
    json.dumps(document)  # plain JSON all through


# ----------------------------------------------------------------------------- the CLI


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_benchmarks_compare_prints_regressions_first_and_marks_flips(
    capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    a, b = two_runs(store)
    code, out, _ = cli(capsys, "benchmarks", "compare", a, b)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"A  {a}  core") and lines[1].startswith(f"B  {b}  core")
    header = next(i for i, line in enumerate(lines) if line.startswith("SCENARIO"))
    rows = [line.split()[0] for line in lines[header + 1 : header + 6]]
    assert rows == ["alpha", "gamma", "beta", "delta", "eps"]
    alpha = lines[header + 1]
    assert "-1.000" in alpha and "pass→fail !" in alpha
    assert "A failed: infrastructure: the sandbox died" in lines[header + 4]
    assert "only in A" in lines[header + 5]
    assert "2 worse, 1 better, 1 unscored, 1 only in A" in out
    assert "pass→fail !" in lines[header + 2]  # gamma
    assert "flips: 2 pass→fail" in out
    assert "history of core, oldest first: " in out and "(A)" in out and "(B)" in out

    code, out, _ = cli(capsys, "benchmarks", "compare", a, b, "--json")
    assert code == 0
    document = json.loads(out)
    assert [s["change"] for s in document["scenarios"]][:2] == ["regressed", "regressed"]
    assert document["scenarios"][0]["flip"] == "pass_to_fail"


def test_benchmarks_compare_names_a_bad_id(
    capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    a, _ = two_runs(store)
    code, out, err = cli(capsys, "benchmarks", "compare", a, "bmr_nope")
    assert code == 1 and out == ""
    assert "no benchmark run 'bmr_nope'" in err and "Traceback" not in err
