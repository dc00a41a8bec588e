"""timm's ``VisionTransformer.forward_intermediates`` for zoo's ViT (the family method of
``zoo_core.features.forward_intermediates``)."""

from __future__ import annotations

from zoo_core.errors import ArgumentError

OUTPUT_FMTS = ("NHWC", "NLC")


class ViTIntermediates:
    """``forward_intermediates`` for ``VisionTransformer`` (a mixin: it uses ``embed``,
    ``run_blocks``, ``norm``, ``patch_embed`` and ``num_prefix_tokens``)."""

    def forward_intermediates(self, params, state, x, indices, *, norm=False, final=False, train=False,
                              output_fmt="NHWC", return_prefix_tokens=False, stop_early=False):
        """The tokens after the blocks at ``indices`` (resolved ints into ``feature_info()``), in
        that order, as timm's ``forward_intermediates``.

        Each is normed by the final ``norm`` with ``norm=True`` (an identity where timm's ``norm``
        is: ``fc_norm`` models, ``final_norm=False``), split from its prefix tokens, and shaped
        (N, gh, gw, D) (``output_fmt="NHWC"``, timm's NCHW) or left (N, gh·gw, D) (``"NLC"``);
        with ``return_prefix_tokens`` each entry is ``(map, prefix)``, prefix (N, prefix, D).
        Returns ``(maps, state)``; with ``final=True``, ``((maps, features), state)`` where
        ``features`` is ``forward_features``'s output: every block runs, or with ``stop_early``
        (timm's ``stop_early`` with ``intermediates_only=False``) the blocks up to the last index,
        normed. Without ``final`` no block past the last index runs.
        """
        if output_fmt not in OUTPUT_FMTS:
            hint = " (timm's NCHW is zoo's NHWC)" if output_fmt == "NCHW" else ""
            raise ArgumentError(f"forward_intermediates: output_fmt={output_fmt!r} is not one of "
                                f"{', '.join(OUTPUT_FMTS)}{hint}")
        self.check_input(x)
        n, h, w, _ = x.shape
        gh, gw = self.patch_embed.feat_size(h, w)
        last = max(indices) + 1 if indices else 0
        outs = self.run_blocks(params, state, self.embed(params, state, x),
                               None if final and not stop_early else last)
        p = self.num_prefix_tokens
        maps = []
        for i in indices:
            y = self.norm.apply(params["norm"], state["norm"], outs[i])[0] if norm else outs[i]
            patch = y[:, p:]
            patch = patch.reshape(n, gh, gw, -1) if output_fmt == "NHWC" else patch
            maps.append((patch, y[:, :p]) if return_prefix_tokens and p else patch)
        if not final:
            return maps, state
        tokens = outs[-1] if outs else self.embed(params, state, x)
        features = self.norm.apply(params["norm"], state["norm"], tokens)[0]
        return (maps, features), state
