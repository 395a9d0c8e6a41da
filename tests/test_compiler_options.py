"""Which XLA options the train and eval steps are compiled with (docs/BENCHMARKS.md, experiments 3, 4, 12)."""

from jaxres import models
from jaxres.train.compiler_options import options_for

REGION = "xla_cpu_copy_insertion_use_region_analysis"
YNN = "xla_cpu_experimental_ynn_fusion_type"


def test_basic_block_nets_on_several_cpus_move_convolutions_to_eigen():
    options = options_for(models.create("resnet18", 10), "cpu", 2)
    assert options == {REGION: True, YNN: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def test_one_cpu_or_bottleneck_nets_keep_ynnpack_convolutions():
    assert options_for(models.create("resnet18", 10), "cpu", 1) == {REGION: True}
    assert options_for(models.create("resnet50", 10), "cpu", 16) == {REGION: True}


def test_other_backends_get_xla_defaults():
    assert options_for(models.create("resnet18", 10), "gpu", 2) == {}
