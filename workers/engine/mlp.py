"""The small classifiers the engine ships as JSON: a multilayer perceptron evaluated with numpy.

Trained with scikit-learn by the scripts in training/ (only there), read here without it, so a worker
needs neither scikit-learn nor pickles. The feature names travel with the weights: a file trained on
other features is refused instead of silently misread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Classifier:
    """ReLU hidden layers and a logistic output, on features standardised by `mean` and `scale`."""

    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    features: tuple[str, ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        # in place where it can be: a frame asks about tens of thousands of pixels at once
        h = x - self.mean
        h /= self.scale
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = h @ w
            h += b
            np.maximum(h, 0.0, out=h)
        z = h @ self.weights[-1]
        z += self.biases[-1]
        return (1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -30, 30)))).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                           "weights": [w.tolist() for w in self.weights], "biases": [b.tolist() for b in self.biases]})

    @classmethod
    def from_json(cls, text: str, features: tuple[str, ...]) -> "Classifier":
        d = json.loads(text)
        if tuple(d["features"]) != tuple(features):
            raise ValueError("classifier was trained on other features: retrain it (training.matte_classifier, training.zoom_judge)")
        return cls(np.float32(d["mean"]), np.float32(d["scale"]), tuple(np.float32(w) for w in d["weights"]),
                   tuple(np.float32(b) for b in d["biases"]), tuple(features))

    @classmethod
    def from_sklearn(cls, mlp, mean: np.ndarray, scale: np.ndarray, features: tuple[str, ...]) -> "Classifier":
        """A fitted sklearn MLPClassifier (logistic output) trained on (x - mean) / scale."""
        return cls(np.float32(mean), np.float32(scale), tuple(np.float32(c) for c in mlp.coefs_),
                   tuple(np.float32(b) for b in mlp.intercepts_), tuple(features))
