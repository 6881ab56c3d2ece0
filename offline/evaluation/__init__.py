"""Stage / command `evaluate`: the three-pick protocol of docs/EVALUATION.md.

- cases: users in folds, seeded picks, one Case per user and variant; the protocol's constants
- folds: a fold's tables, trained by the build's own stage functions
- methods: what each compared method shows for a case (the product, ablations, baselines)
- metrics: top-k figures on plain lists
- scoring: per-case figures, their means per method, paired ablation differences
- goals: the brief's goals, checked on the summary
- rating: RMSE/MAE of the rating models
- report: report.json and report.html from a finished report
- stage: `run_evaluation` over the folds, and the stage's `run`

stage imports the others; none of them imports stage.
"""
