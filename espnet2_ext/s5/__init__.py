"""The S5 domain (like espnet2/enh): labels, models, losses, metrics, pipeline."""
