"""The encoding zoo: model builders, the registry and pretrained loading.

Importing `zoo` registers the project's custom layers (from `layers`) with Keras.
"""

import layers  # noqa: F401  registers the custom layers for `.keras` loading
