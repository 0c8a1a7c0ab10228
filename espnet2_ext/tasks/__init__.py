"""espnet2 task classes for S5: audio tagging (s5_tag) and label-queried separation (s5_sep)."""
