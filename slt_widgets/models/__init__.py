"""Models: the paper's ReLU MLP, its training loop and safe checkpoints."""
from .mlp import mlp, mlp_from_spec, spec_of
from .train import evaluate, frame_accuracy, predict, train
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["mlp", "mlp_from_spec", "spec_of", "train", "evaluate", "predict", "frame_accuracy",
           "save_checkpoint", "load_checkpoint", "CheckpointError"]
