# Where the DCASE2026 Task 4 corpus lives (downloaded, or built by --mini true).
# Stage 1 puts DCASE2026Task4Dataset/ under it and links data/dev_set, data/eval_set.
DCASE2026T4=${DCASE2026T4:-downloads}
# External data for stage 2 (Semantic Hearing BinauralCuratedDataset, EARS).
SEMHEAR=${SEMHEAR:-}
EARS=${EARS:-}
