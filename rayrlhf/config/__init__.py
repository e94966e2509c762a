"""Typed, validated run configuration: YAML file + dotted ``key=value`` overrides.

Every default lives here, once. The defaults are the paper's experiment (K=8, N=32, Rp=4,
beta=0.1, lr 5e-5, 3 epochs, 3 iterations); ``examples/quickstart.yaml`` shrinks them to laptop size.
Unknown keys, wrong types, out-of-range or non-finite values and keys written twice in the YAML raise
:class:`ConfigError` before any work starts (value checks and the strict loader: ``rayrlhf/config/checks.py``).
"""

from rayrlhf.config.learning import EvalConfig, OptimConfig, OracleConfig, TrainConfig, TransferConfig, WebAnnotationConfig
from rayrlhf.config.loading import ConfigError, apply_overrides, dump_config, load_config
from rayrlhf.config.models import DataConfig, LoraConfig, PolicyConfig, RolloutConfig, SourceConfig, TaskConfig
from rayrlhf.config.runtime import RunConfig, TimeoutConfig, TrackingConfig
from rayrlhf.config.schema import Config
from rayrlhf.config.services import EndpointConfig, JudgeConfig

__all__ = [
    "Config", "ConfigError", "DataConfig", "EndpointConfig", "JudgeConfig", "EvalConfig", "LoraConfig", "OptimConfig", "OracleConfig", "PolicyConfig",
    "RolloutConfig", "RunConfig", "SourceConfig", "TaskConfig", "TimeoutConfig", "TrackingConfig", "TrainConfig",
    "TransferConfig", "WebAnnotationConfig", "apply_overrides", "dump_config", "load_config",
]
