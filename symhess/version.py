"""symhess's version, in a module of its own: the generated code, the cache keys and saved
files carry it, and the stages that write them read it here without importing the package."""

__version__ = "0.1.0"
