"""zoo models inside the JAX frameworks: Flax NNX (``zoo_core.frameworks.nnx``), Equinox
(``zoo_core.frameworks.equinox``) and Orbax checkpoints (``zoo_core.frameworks.orbax``).

Each is an optional extra (``zoo-core[flax]``, ``zoo-core[equinox]``, ``zoo-core[orbax]``). This
package imports none of them: import the submodule you use.
"""
