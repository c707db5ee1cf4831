# %% [markdown]
# # 03 Feature selection
# Every input must earn its place: its permutation importance (CV RMSLE increase
# when the input is shuffled within the validation fold) must be positive.
# Training records it; here it is recomputed on 3 folds with the package's
# own functions (`regression_model.evaluation`) and compared with the record.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from regression_model.config.core import load_config
from regression_model.evaluation import model_out_of_fold, permutation_importance
from regression_model.model import load_model
from regression_model.processing.data_manager import load_dataset

config = load_config()
train = load_dataset(config.app.training_data_file)
quick = config.model.model_copy(update={"cv_splits": 3})
oof = model_out_of_fold(quick, train)
features = train.drop(columns=[config.model.target])
importance = permutation_importance(
    oof.models,
    features=features,
    log_price=oof.log_price,
    folds=oof.folds,
    inputs=config.model.features,
    seed=config.model.random_state,
)

# %%
recorded = load_model("onnx").metadata.model_tests.figures["permutation_importance"]
table = pd.DataFrame({"3 folds (here)": importance, "recorded at training": recorded})
table.sort_values("recorded at training").plot.barh(figsize=(7, 8))
plt.xlabel("CV RMSLE increase when shuffled")
plt.show()

# %%
table.sort_values("recorded at training", ascending=False).head(10)
