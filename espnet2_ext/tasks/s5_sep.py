"""S5 label-queried separation task: ResUNetK trained with class-aware PIT −SNR.

    python -m espnet2_ext.bin.s5_sep_train --config conf/tuning/sep_resunetk.yaml \\
        --output_dir exp/sep_resunetk --valid_data_dir data/valid
"""
from espnet2_ext.s5.espnet_model_sep import ESPnetS5SeparatorModel
from espnet2_ext.s5.loss import loss_choices
from espnet2_ext.s5.separator import separator_choices
from espnet2_ext.tasks.s5_abs_task import S5AbsTask
from espnet2_ext.tasks.speed_options import SpeedOptionsMixin


class S5SeparationTask(SpeedOptionsMixin, S5AbsTask):
    """Label-queried separation: (mixture [B, 4, T], query [B, 54]) -> 3 waveforms."""

    class_choices_list = [separator_choices, loss_choices]
    net_choices = separator_choices
    espnet_model_class = ESPnetS5SeparatorModel
    label_vector_mode = "concat"
    return_source = True
