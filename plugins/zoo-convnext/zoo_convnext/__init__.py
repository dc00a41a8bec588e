"""zoo-convnext: timm's ConvNeXt v1 (zepto … xxlarge) for zoo, with every v1 weight timm releases."""
