# %% [markdown]
# # 02 Feature engineering
# The package's preparation steps (`regression_model.pipeline.preparation_steps`):
# selection, label casting, imputation, weighted sums, grade mappings, rare-label
# grouping and mean encoding. Fitted here on the training split to look at the
# design both models read.

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import Pipeline

from regression_model.config.core import load_config
from regression_model.pipeline import preparation_steps
from regression_model.processing.data_manager import load_dataset

config = load_config()
train = load_dataset(config.app.training_data_file)
target = config.model.target
log_price = np.log(train[target])
preparation = Pipeline(preparation_steps(config.model))
[name for name, _ in preparation.steps]

# %%
design = preparation.fit_transform(train.drop(columns=[target]), log_price)
design.head()

# %% [markdown]
# The weighted sums from `combinations` in `config.yml`, against the log price.

# %%
combined = list(config.model.combinations)
figure, axes = plt.subplots(1, len(combined), figsize=(4 * len(combined), 3.2))
for axis, name in zip(axes, combined, strict=True):
    axis.scatter(design[name], log_price, s=3, alpha=0.4)
    axis.set_xlabel(name)
axes[0].set_ylabel("log price")
plt.show()

# %% [markdown]
# Mean encoding: each neighbourhood becomes its smoothed mean log price.

# %%
encoded = design.assign(raw=train["Neighborhood"].to_numpy())
encoded.groupby("raw")["Neighborhood"].first().sort_values().plot.barh(
    figsize=(6, 7), title="encoded Neighborhood (smoothed mean log price)"
)
plt.show()
