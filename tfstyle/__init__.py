"""tfstyle: neural style transfer with TensorFlow/Keras 2.

``tfstyle.stylize(content, styles, ...)`` is imported on first use (see :mod:`tfstyle.stylize`),
so ``import tfstyle`` stays light and never imports TensorFlow.
"""

__all__ = ["stylize"]


def __getattr__(name: str):
    if name == "stylize":
        # The module shares the function's name; it is callable and forwards to the function, so
        # ``tfstyle.stylize(...)`` works whether or not the submodule was imported first.
        import tfstyle.stylize as module

        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
