"""The spatial sound-scene synthesizer (a fast SpAudSyn equivalent).

Modules, in data-flow order:
  sofa.py       SOFA (netCDF4) impulse-response files: write / read
  fft.py        real FFTs of rows (MKL descriptors committed once on the CPU)
  room.py       rooms: positions, normalised RIRs, direct-path window, spectra cache
  sources.py    source clips: header-checked, resampled, cached reads
  scene.py      scenes: event lists, metadata JSON
  render.py     the CPU renderer (mixture + dry targets) and the float64 reference
  sampler.py    random scenes (official "generate" mode), seeded by (seed, epoch, index)
  unrendered.py, torch_render.py  rendering on the training device (render_on_device)
  dataset.py    torch datasets: GenerateDataset, MetadataDataset, DataDirDataset
  fixed_sets.py fixed validation / test / eval sets for a corpus; re-rendering a metadata list
  datadir.py    Kaldi-style data dirs (wav.scp, labels, spkN.scp) of a soundscape folder
"""
