"""The start-up bench runs end to end at a tiny size, so it cannot rot (the cluster benches: e2e/test_bench.py)."""

from __future__ import annotations

from e2e.test_bench import bench


def test_startup_bench(tmp_path):
    report = bench("startup", "--projects", "3", "--repetitions", "2", tmp_path=tmp_path)
    assert report["benchmark"] == "startup" and report["machine"]["cpus"] >= 1
    commands = [r["command"] for r in report["results"]]
    assert commands == ["python -c pass (interpreter alone)", "runnerkit --help", "runnerkit render (3 projects)"]
    for r in report["results"]:
        assert len(r["seconds"]) == 2 and r["median"] > 0 and r["min"] <= r["median"]
    assert [r["target"] for r in report["results"]] == [None, 0.3, 1.5]
