"""tfstyle: neural style transfer with TensorFlow/Keras 2, and its LiteRT runtime.

``tfstyle.stylize(content, styles, ...)`` is :func:`tfstyle.driver.stylize`, imported on first use so
that ``import tfstyle`` stays light and never imports TensorFlow.
"""

__all__ = ["stylize"]


def __getattr__(name: str):
    if name == "stylize":
        from tfstyle.driver import stylize

        globals()["stylize"] = stylize
        return stylize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
