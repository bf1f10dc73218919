"""Peak-end vs the plain average as predictors of NPS and repurchase (needs scikit-learn).

Fitted on the per-journey frame of :func:`cxlens.analyse.journey_experience.journey_experience`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

from cxlens.analyse.common import by_key


class PeakEndComparison:
    """Compare peak-end, average, peak and end as predictors of NPS (R²) and repurchase (AUC).

    ``fit`` takes the frame of :func:`journey_experience`; journeys with fewer than ``min_signals``
    signals are left out (with one signal every score is the same). Scores are out-of-fold
    (``cv``-fold) predictions of a one-feature linear (NPS) or logistic (repurchase) model.
    """

    PREDICTORS = ("peak_end", "average", "peak", "end")

    def __init__(self, cv: int = 5, min_signals: int = 2, random_state: int = 0) -> None:
        self.cv = cv
        self.min_signals = min_signals
        self.random_state = random_state

    def fit(self, journeys: pd.DataFrame) -> PeakEndComparison:
        """Score each predictor; results in ``fits_`` and ``best_``."""
        if "order_id" in journeys.columns:
            journeys = by_key(journeys, "order_id")  # the same folds whatever the engine's row order
        data = journeys[journeys["signals"] >= self.min_signals]
        rows = []
        nps = data[data["nps"].notna()]
        rep = data[data["repurchased"].notna()]
        for predictor in self.PREDICTORS:
            rows.append(self._score(nps, predictor, "nps"))
            rows.append(self._score(rep, predictor, "repurchased"))
        self.fits_ = pd.DataFrame(rows, columns=["outcome", "predictor", "metric", "value", "n"])
        best = self.fits_.dropna(subset=["value"]).sort_values("value", ascending=False, kind="stable")
        self.best_ = best.groupby("outcome", sort=False)["predictor"].first().to_dict()
        return self

    def _score(self, data: pd.DataFrame, predictor: str, outcome: str) -> tuple[str, str, str, float, int]:
        x = data[[predictor]].to_numpy(float)
        n = len(data)
        if outcome == "nps":
            y = data["nps"].to_numpy(float)
            if n < self.cv * 2 or np.ptp(y) == 0:
                return outcome, predictor, "r2", float("nan"), n
            folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
            pred = cross_val_predict(LinearRegression(), x, y, cv=folds)
            return outcome, predictor, "r2", float(r2_score(y, pred)), n
        y = data["repurchased"].astype(bool).to_numpy()
        if min(y.sum(), (~y).sum()) < self.cv:
            return outcome, predictor, "auc", float("nan"), n
        sfolds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        prob = cross_val_predict(LogisticRegression(), x, y, cv=sfolds, method="predict_proba")[:, 1]
        return outcome, predictor, "auc", float(roc_auc_score(y, prob)), n
