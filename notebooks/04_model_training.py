# %% [markdown]
# # 04 Model training
# The configured blend (`regression_model.pipeline.build_pipeline`), fitted on
# the training split and scored on the held-out split, then prediction
# intervals calibrated from out-of-fold residuals (`regression_model.intervals`).

# %%
import matplotlib.pyplot as plt
import numpy as np

from regression_model.config.core import load_config
from regression_model.evaluation import interval_figures, model_out_of_fold
from regression_model.intervals import calibrate_intervals, log_interval
from regression_model.processing.data_manager import load_dataset
from regression_model.train_pipeline import fit_pipeline, price_metrics

config = load_config()
target = config.model.target
train = load_dataset(config.app.training_data_file)
test = load_dataset(config.app.test_data_file)
pipeline = fit_pipeline(config, train)
predicted = pipeline.predict(test.drop(columns=[target]))
actual = np.log(test[target].to_numpy(dtype=float))
price_metrics(test[target], np.exp(predicted))

# %%
plt.figure(figsize=(6, 4))
plt.scatter(np.exp(predicted), np.exp(actual), s=5, alpha=0.5)
limits = [np.exp(actual).min(), np.exp(actual).max()]
plt.plot(limits, limits, color="black", linewidth=0.8)
plt.xlabel("predicted price")
plt.ylabel("actual price")
plt.show()

# %% [markdown]
# Intervals: out-of-fold residuals on `train.csv`, normalised by the mean
# |residual| per predicted-price band, then the conformal quantile.

# %%
oof = model_out_of_fold(config.model, train)
calibration = calibrate_intervals(
    oof.predicted,
    oof.log_price,
    coverage=config.model.interval_coverage,
    bands=config.model.interval_price_bands,
)
low, high = log_interval(calibration, predicted)
order = np.argsort(predicted)
plt.figure(figsize=(6, 4))
plt.scatter(np.exp(predicted), actual - predicted, s=5, alpha=0.5)
plt.plot(np.exp(predicted[order]), (high - predicted)[order], color="tab:red")
plt.plot(np.exp(predicted[order]), (low - predicted)[order], color="tab:red")
plt.xscale("log")
plt.xlabel("predicted price")
plt.ylabel("log residual")
plt.show()

# %%
figures = interval_figures(
    calibration, test, predicted, actual, config.gate.min_slice_rows
)
{key: figures[key] for key in ("nominal", "coverage", "mean_width")}
