"""The one training loop and its pieces: the Session, the stepper that every loop shares,
probes and the range test, the ledger, snapshots, segments, the TrainingState and history,
and the Trainee contract that tasks fulfil. ``autolr.attach`` drives the same pieces from a
user's own loop."""
