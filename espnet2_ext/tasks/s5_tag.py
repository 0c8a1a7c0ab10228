"""S5 audio-tagging task: M2D tagger + slot head trained with PIT cross-entropy.

    python -m espnet2_ext.bin.s5_tag_train --config conf/tuning/tag_head_4c.yaml \\
        --output_dir exp/tag_head_4c --valid_data_dir data/valid
"""
from espnet2_ext.s5.espnet_model_tag import ESPnetS5TaggerModel
from espnet2_ext.s5.loss import loss_choices
from espnet2_ext.s5.tagger import tagger_choices
from espnet2_ext.tasks.s5_abs_task import S5AbsTask
from espnet2_ext.tasks.speed_options import SpeedOptionsMixin


class S5TaggingTask(SpeedOptionsMixin, S5AbsTask):
    """Audio tagging: mixture [B, 4, T] -> 3 label slots (18 classes + silence)."""

    class_choices_list = [tagger_choices, loss_choices]
    net_choices = tagger_choices
    espnet_model_class = ESPnetS5TaggerModel
    label_vector_mode = "stack"
    return_source = False
