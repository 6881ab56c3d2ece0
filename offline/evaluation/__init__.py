"""Stage / command `evaluate`: the three-pick protocol of docs/EVALUATION.md (see `stage`)."""
