# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Report: the paper's tables beside ours
#
# A reproduction earns trust line by line. This notebook collects the `metrics.json` that every
# earlier notebook of this run left in its folder and sets each of the paper's Tables 1–5 beside
# our numbers, with the difference (ours − paper). Above each table: which notebook produced it,
# with which preset, seed, pretrained weights, data and code commit. A row we have not run says
# **not run** rather than disappearing, so a gap is visible as a gap.
#
# How to read it:
# - **Table 1** (SIFID, notebook 05) and **Tables 4–5** (FID) measure how close the synthetic
#   images are to the real ones; lower is better. With random feature weights (no pretrained
#   Inception available) the numbers are not comparable with the paper's, and the table says so.
# - **Tables 2–3** (notebooks 06–07) measure segmentation. A classroom run uses a few images, a
#   small encoder and few epochs: expect lower scores, and judge the *pattern* (does style transfer
#   help? does synthetic data win at small R?) more than the values.
# - DCGAN, Progressive GAN and FastGAN (Tables 4–5) are not built in this kit yet: their rows stay
#   "not run".
# - **Privacy** (notebook 05b) is no table of the paper, which promises shareable synthetic data
#   without measuring what it gives away. The audit's recommendation is printed below the tables
#   and its figures are in the report with the others.
#
# The same report is written as `report.md` and `report.html` in this notebook's folder, with the
# figures of every notebook below the tables.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - put every reproduced table and figure next to the paper's numbers;
# - say, for each difference, whether it comes from the settings (preset, weights) or from the method;
# - know which run produced each number: preset, seeds, weights.

# %% tags=["parameters"]
preset: str = "classroom"  # preset name (set by the runner)
run_dir: str = "../runs/classroom"  # the run whose notebooks' metrics.json are reported
seed: int = 0  # recorded with the report (nothing random happens here)
interactive: bool = True  # widgets (none in this notebook); the runner sets False

# %%
from IPython.display import Markdown, display

from singanseg_lib import report, viz
from singanseg_lib.kit.outputs import load_metrics, start_notebook

run = start_notebook("08_report", run_dir=run_dir, seed=seed)
tables = report.build_report(run_dir)
print(f"{sum(any(src == 'ours' and cells[0] != report.NOT_RUN for _, src, cells in t.lines) for t in tables)} "
      f"of {len(tables)} tables have results in {run_dir}")

# %% [markdown]
# ## The tables

# %%
for t in tables:
    display(Markdown(f"### {t.title}\n\n*{' · '.join(f'{k}: {v}' for k, v in t.context.items())}*"))
    display(report.to_frame(t))

# %% [markdown]
# ## What the synthetic data gives away (notebook 05b)
#
# How often a sample's source image could be picked out of the real data set, and at which start
# scale the audit says samples can be shared.

# %%
privacy_audit = load_metrics(run_dir).get("05b_privacy", {}).get("metrics", {})
print(privacy_audit.get("recommendation", "notebook 05b has not run in this run folder"))

# %% [markdown]
# ## Every segmentation number at a glance
#
# Each dot is one metric of one row of Tables 2–3: the paper's value across, ours up. Dots on the
# diagonal agree; a cloud below it is a run that is weaker overall (as a classroom run is).

# %%
run.figure(viz.plot_paper_vs_ours(tables), "paper_vs_ours")
md, page = report.write_report(run_dir, run.out_dir, figures_here=run.figures)
print(f"written: {md}\n         {page}")

# %%
run.save_metrics({"tables": {t.key: {"context": t.context,
                                     "rows_run": len({row for row, src, cells in t.lines
                                                      if src == "ours" and cells[0] != report.NOT_RUN})}
                             for t in tables},
                  "privacy_recommendation": privacy_audit.get("recommendation"),
                  "report": [md.name, page.name]})
