# %% [markdown]
# # 01 Data analysis
# The training split of the Ames snapshot (`regression_model/datasets/train.csv`),
# loaded with the package's own reader so that `NA` handling matches training.

# %%
import matplotlib.pyplot as plt
import numpy as np

from regression_model.config.core import load_config
from regression_model.processing.data_manager import load_dataset

config = load_config()
train = load_dataset(config.app.training_data_file)
target = config.model.target
train.shape

# %% [markdown]
# The price is right-skewed; its log is close to symmetric, which is why the
# model predicts log(SalePrice).

# %%
figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].hist(train[target], bins=50)
axes[0].set_xlabel(target)
axes[1].hist(np.log(train[target]), bins=50)
axes[1].set_xlabel(f"log({target})")
plt.show()

# %% [markdown]
# Missing values among the configured features (most `NA`s mean "none").

# %%
missing = train[config.model.features].isna().mean().sort_values(ascending=False)
missing = missing[missing > 0]
missing.plot.barh(figsize=(6, 3), title="fraction missing")
plt.show()

# %% [markdown]
# Living area and overall quality against the log price.

# %%
figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].scatter(train["GrLivArea"], np.log(train[target]), s=4, alpha=0.4)
axes[0].set_xlabel("GrLivArea")
train.boxplot(column=target, by="OverallQual", ax=axes[1])
axes[1].set_yscale("log")
plt.show()

# %% [markdown]
# Median price per neighbourhood: the strongest label feature.

# %%
train.groupby("Neighborhood")[target].median().sort_values().plot.barh(
    figsize=(6, 7), title="median price"
)
plt.show()
