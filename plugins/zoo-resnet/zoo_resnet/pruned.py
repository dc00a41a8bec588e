"""The per-block widths of timm's pruned ECA-ResNets (``timm/models/_pruned/*.txt``, from
`Knapsack Pruning with Inner Distillation` https://arxiv.org/abs/2002.08258), as plain data.

For each architecture, per stage, per block: the output channels of ``conv1``, ``conv2`` and
``conv3`` (the last equal in every block of a stage: it is the residual width, and the shortcut
projection's too). The stems are unpruned. The grouped conv is plain (cardinality 1), and each ECA
keeps the kernel size of its unpruned width.
"""

PRUNED: dict[str, tuple[tuple[tuple[int, int, int], ...], ...]] = {
    "ecaresnet50d_pruned": (
        ((47, 18, 19), (52, 22, 19), (64, 35, 19)),
        ((85, 37, 171), (107, 80, 171), (120, 85, 171), (125, 87, 171)),
        ((198, 126, 818), (255, 232, 818), (256, 233, 818), (253, 235, 818), (256, 225, 818), (256, 239,
         818)),
        ((492, 237, 2022), (512, 500, 2022), (512, 490, 2022)),
    ),
    "ecaresnet101d_pruned": (
        ((45, 25, 26), (53, 20, 26), (60, 27, 26)),
        ((81, 24, 142), (93, 49, 142), (102, 54, 142), (122, 78, 142)),
        ((101, 25, 278), (239, 160, 278), (234, 156, 278), (250, 176, 278), (253, 191, 278), (251, 175, 278),
         (230, 128, 278), (244, 154, 278), (244, 159, 278), (238, 97, 278), (244, 149, 278), (253, 181, 278),
         (245, 119, 278), (255, 216, 278), (256, 201, 278), (253, 149, 278), (254, 141, 278), (256, 190, 278),
         (256, 217, 278), (255, 156, 278), (256, 155, 278), (256, 232, 278), (256, 214, 278)),
        ((499, 289, 2042), (512, 512, 2042), (512, 502, 2042)),
    ),
}
