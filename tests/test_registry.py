"""The variant registry: records, fnmatch listing, default tags, unknown names and conflicts."""

import pytest

from zoo_core import Family, License, RegistryConflictError, UnknownVariantError, Variant
from zoo_core.registry import Registry

MIT = License("MIT", commercial="yes")
NC = License("CC-BY-NC-4.0", commercial="no")


def variant(name, family="fam", license=MIT, **kw):
    return Variant(name, family, num_classes=kw.pop("num_classes", 10), num_features=8, license=license,
                   hf_hub_id=kw.pop("hf_hub_id", f"org/{name}"), **kw)


def family(name="fam", variants=(), dist="dist-a", **kw):
    return Family(name, variants, builder="x:y", weight_mapping="x:z", distribution=dist, **kw)


def make_registry():
    reg = Registry()
    reg.add(family("fam", [variant("net2.b_tag"), variant("net2.a_tag", license=NC), variant("net10.x"),
                           variant("net10.untrained", hf_hub_id=None)]))
    return reg


def test_variant_splits_arch_and_tag_and_requires_a_dot():
    v = variant("resnet50.a1_in1k")
    assert (v.arch, v.tag) == ("resnet50", "a1_in1k")
    with pytest.raises(ValueError, match="arch.tag"):
        variant("resnet50")


def test_license_rejects_unknown_commercial_values():
    with pytest.raises(ValueError):
        License("X", commercial="maybe")


def test_list_matches_fnmatch_on_name_or_arch_in_natural_order():
    reg = make_registry()
    assert reg.list("net*") == ["net2.a_tag", "net2.b_tag", "net10.untrained", "net10.x"]
    assert reg.list("net2") == ["net2.a_tag", "net2.b_tag"]
    assert reg.list("*.a_*") == ["net2.a_tag"]
    assert reg.list(["net10.x", "net2.b*"]) == ["net2.b_tag", "net10.x"]


def test_list_filters_by_license_commercial_and_pretrained():
    reg = make_registry()
    assert reg.list(license="cc-by-nc*") == ["net2.a_tag"]
    assert reg.list(commercial="no") == ["net2.a_tag"]
    assert reg.list(pretrained=False) == ["net10.untrained"]
    assert reg.list(family="other") == []


def test_arch_alone_resolves_to_the_first_listed_tag_or_the_declared_default():
    reg = make_registry()
    assert reg.get("net2").name == "net2.b_tag"
    reg2 = Registry()
    reg2.add(family("fam", [variant("net2.b_tag"), variant("net2.a_tag")], default_tags={"net2": "a_tag"}))
    assert reg2.get("net2").name == "net2.a_tag"


def test_unknown_name_lists_close_matches():
    reg = make_registry()
    with pytest.raises(UnknownVariantError, match=r"unknown variant 'net20.b_tag'; closest: net2.b_tag"):
        reg.get("net20.b_tag")


def test_unknown_tag_of_a_known_arch_names_its_family_distribution_and_tags():
    reg = make_registry()
    with pytest.raises(UnknownVariantError, match=r"'net2.b_tg'; net2 \(family fam, from dist-a\) has the tags b_tag, a_tag"):
        reg.get("net2.b_tg")


def test_unknown_name_with_no_family_installed_says_how_to_install_one():
    with pytest.raises(UnknownVariantError, match="no model family is installed"):
        Registry().get("fancynet50")  # an architecture zoo's catalog does not know (tests/test_catalog.py for those)


def test_a_variant_claimed_by_two_distributions_names_both_when_used():
    reg = Registry()
    reg.add(family("a", [variant("net.x", family="a")], dist="zoo-a"))
    reg.add(family("b", [variant("net.x", family="b"), variant("net.y", family="b")], dist="zoo-b"))
    assert reg.get("net.y").family == "b"
    with pytest.raises(RegistryConflictError, match=r"'net.x' is registered twice: by zoo-a .* and by zoo-b"):
        reg.get("net.x")


def test_a_family_name_registered_twice_names_both_distributions():
    reg = Registry()
    reg.add(family("a", dist="zoo-a"))
    with pytest.raises(RegistryConflictError, match="by zoo-a and by zoo-b"):
        reg.add(family("a", dist="zoo-b"))


def test_a_variant_must_belong_to_the_family_registering_it():
    with pytest.raises(RegistryConflictError, match="says family 'other'"):
        Registry().add(family("fam", [variant("n.x", family="other")]))


def test_label_names_follow_the_head_size():
    assert variant("n.a", num_classes=1000).resolved_label_names == "imagenet-1k"
    assert variant("n.b", num_classes=21843).resolved_label_names == "imagenet-21k-goog"
    assert variant("n.c", num_classes=0).resolved_label_names is None
