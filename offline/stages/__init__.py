"""The build's stages, one module each: `run(ctx: BuildContext) -> StageResult` over pure
`compute_*` / `train_*` functions that the evaluation calls again on each fold.

movies, popular (Spark DataFrame API), insights (Spark DataFrame API), als (Spark ML), knn
(scikit-learn), neumf (Keras). Each is imported only when its stage runs (see
`offline.build.STAGES`). baselines is not a stage: the rating-prediction baselines and error
metrics that als and the evaluation share.
"""
