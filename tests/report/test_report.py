"""The paper-vs-ours report on a run directory where some experiments are missing."""
import json

import pytest
from conftest import shared_dir

from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.kit.paths import resource
from singanseg_lib.report import tables as report

RANDOM = "fid_inception: random weights: not comparable with the paper"


def _write(run_dir, name, metrics, figure=True):
    run = start_notebook(name, run_dir=run_dir, seed=7, params={"preset": "smoke"}, verbose=False)
    if figure:
        (run.out_dir / "fig.png").write_bytes(b"\x89PNG fake")
        run.figures.append("fig.png")
    run.save_metrics(metrics)


@pytest.fixture
def partial_run(tmp_path):
    run_dir = tmp_path / "runs" / "smoke"
    ours = dict(dice_loss=0.2, iou=0.7, f_score=0.8, accuracy=0.9, recall=0.85, precision=0.75)
    _write(run_dir, "06_real_vs_synthetic", {"table2_real_vs_fake": {
        "rows": {"real": ours, "fake1_st_1_1000": {**ours, "iou": 0.65}},
        "weights": "random init (not comparable with the paper)", "data": "sample <b>36</b> images"}})
    # notebook 05 builds its Tables 1 and 4 with mean_sd_entry
    _write(run_dir, "05_metrics", {
        "table1_sifid": report.mean_sd_entry({"no_st": [0.38, 0.42]}, weights=RANDOM, settings="64 channels"),
        "table4_fid_gans": report.mean_sd_entry({"singan_seg_st": [150.0]}, weights=RANDOM, settings="resize clean")})
    return run_dir


def test_paper_numbers_are_the_shared_file():
    mine, shared = resource("paper_results.yaml"), shared_dir()
    if shared is not None and (shared / "paper_results.yaml").is_file():
        assert mine.read_bytes() == (shared / "paper_results.yaml").read_bytes()
    assert report.paper_results()["table2_real_vs_fake"]["rows"]["real"][1] == 0.8266


def test_missing_experiments_say_not_run(partial_run):
    tables = {t.key: t for t in report.build_report(partial_run)}
    assert set(tables) == set(report.TABLES)
    t2 = tables["table2_real_vs_fake"]
    assert t2.context["notebook"] == "06_real_vs_synthetic" and t2.context["preset"] == "smoke"
    assert t2.context["seed"] == 7 and "random init" in t2.context["weights"]
    lines = {(row, src): cells for row, src, cells in t2.lines}
    # every paper row is there (16 rows x paper/ours/difference), run or not
    assert len(t2.lines) == 16 * 3
    assert lines[("real", "paper")][1] == "0.8266" and lines[("real", "ours")][1] == "0.7000"
    assert lines[("real", "difference")][1] == "-0.1266"
    assert lines[("fake1_st_1_1000", "difference")][1] == f"{0.65 - 0.7820:+.4f}"
    assert lines[("fake3_no_st", "ours")] == [report.NOT_RUN] * 6 and lines[("fake3_no_st", "difference")] == [""] * 6
    t3 = tables["table3_small_data"]
    assert t3.context["status"] == "not run: run notebook 07_small_data"
    assert all(cells == [report.NOT_RUN] * 6 for _, src, cells in t3.lines if src == "ours") and len(t3.lines) == 60
    t3b = tables["table3_small_data_albumentations"]
    assert {src for _, src, _ in t3b.lines} == {"ours"} and len(t3b.lines) == 20
    t1 = {(r, s): c for r, s, c in tables["table1_sifid"].lines}
    assert t1[("no_st", "ours")] == ["0.4000", "0.0283", "0.3800, 0.4200"]  # sample SD of the two sets
    assert t1[("st_1_1000", "ours")][0] == report.NOT_RUN
    assert "random weights" in tables["table1_sifid"].context["weights"]
    assert "64 channels" in tables["table1_sifid"].context["settings"]
    assert t4_sd_is_na(tables["table4_fid_gans"])
    t4 = {(r, s): c for r, s, c in tables["table4_fid_gans"].lines}
    assert t4[("dcgan", "ours")][0] == report.NOT_RUN and t4[("singan_seg_st", "paper")][0] == "43.46"
    assert t4[("singan_seg_st", "ours")][0] == "150.00" and t4[("singan_seg_st", "difference")][0] == "+106.54"
    assert t4[("singan_seg", "ours")][0] == report.NOT_RUN
    assert tables["table5_fid_small"].context["status"] == "not run: run notebook 05c_baseline_gans"


def test_rows_of_one_table_from_two_notebooks_are_merged(partial_run):
    gans = report.mean_sd_entry({"fastgan": [80.0, 82.0], "dcgan": [300.0, 310.0]}, weights=RANDOM,
                                settings="32 px, 300 steps")
    _write(partial_run, "05c_baseline_gans", {"table4_fid_gans": gans, "table5_fid_small": {
        "rows": {"fastgan": {"r": [5, 10], "mean": [250.0, 240.0], "sd": [5.0, 4.0]}}, "weights": RANDOM}})
    tables = {t.key: t for t in report.build_report(partial_run)}
    t4 = {(r, s): c for r, s, c in tables["table4_fid_gans"].lines}
    assert t4[("singan_seg_st", "ours")][0] == "150.00" and t4[("fastgan", "ours")][0] == "81.00"
    assert t4[("dcgan", "ours")][1] == "7.07" and t4[("progressive_gan", "ours")][0] == report.NOT_RUN
    ctx = tables["table4_fid_gans"].context
    assert ctx["notebook"] == "05_metrics + 05c_baseline_gans" and ctx["weights"] == RANDOM
    assert ctx["settings"] == "05_metrics: resize clean; 05c_baseline_gans: 32 px, 300 steps"
    t5 = {(r, s): c for r, s, c in tables["table5_fid_small"].lines}
    assert t5[("fastgan", "ours")][:3] == ["250.00 ± 5.00", "240.00 ± 4.00", report.NOT_RUN]
    assert t5[("singan_seg", "ours")][0] == report.NOT_RUN


def t4_sd_is_na(table):
    lines = {(r, s): c for r, s, c in table.lines}
    return lines[("singan_seg_st", "ours")][1] == "n/a" and lines[("singan_seg_st", "difference")][1] == ""


def test_written_report_markdown_and_html(partial_run):
    out = partial_run / "08_report"
    md, page = report.write_report(partial_run, out)
    text, doc = md.read_text(), page.read_text()
    for needle in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "not run: run notebook 07_small_data",
                   "| real | paper | 0.1123 | 0.8266", "commit:", "../06_real_vs_synthetic/fig.png"):
        assert needle in text, needle
    assert "<b>36</b>" not in doc and "&lt;b&gt;36&lt;/b&gt;" in doc, "data text is escaped in HTML"
    assert doc.count("<table>") == len(report.TABLES) and "class='notrun'" in doc
    assert "../05_metrics/fig.png" in doc


def test_damaged_metrics_named(partial_run):
    (partial_run / "07_small_data").mkdir()
    (partial_run / "07_small_data" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="07_small_data"):
        report.build_report(partial_run)


def test_report_schema_read_directly():
    table = report.compare("table1_sifid", {"rows": {"st_1_1000": {"mean": 0.3, "sd": 0.01, "sets": [0.29, 0.31]}},
                                            "weights": "w"})
    lines = {(r, s): c for r, s, c in table.lines}
    assert lines[("st_1_1000", "ours")] == ["0.3000", "0.0100", "0.2900, 0.3100"]
    assert lines[("st_1_1000", "difference")][0] == f"{0.3 - 0.2204:+.4f}"
    assert report.tables_of({"table1_sifid": {"rows": {}}})["table1_sifid"] == {"rows": {}}


def test_compare_rejects_unknown_table():
    with pytest.raises(KeyError, match="table2_real_vs_fake"):
        report.compare("table9", None)
    extra = report.compare("table2_real_vs_fake", {"rows": {"fake6_no_st": dict.fromkeys(
        ("dice_loss", "iou", "f_score", "accuracy", "recall", "precision"), 0.5)}})
    rows = [row for row, src, _ in extra.lines if src == "paper"]
    assert rows[-1] == "fake6_no_st" and json.dumps(extra.lines)  # rows only we have come last


def test_cli_report(partial_run, tmp_path, capsys):
    from singanseg_lib.cli import main

    assert main(["report", "--run-dir", str(partial_run), "--out", str(tmp_path / "out")]) == 0
    assert "3 of 6 tables have results" in capsys.readouterr().out
    assert "not run" in (tmp_path / "out" / "report.md").read_text()
    assert main(["report", "--run-dir", str(tmp_path / "missing")]) == 1
    assert "no such run directory" in capsys.readouterr().err
