"""rayrlhf: online RLHF that transfers from many imperfect reward models (empirical TPO, Huang et al.,
ICML 2025) as a Ray actor system."""

__version__ = "0.1.0"
