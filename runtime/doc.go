// Package runtime trains a decoder split into stages over devices: it
// plans the split, builds the stages, and runs each step of a schedule with
// one worker per device, timing every action on one time base.
//
// Main types: TrainConfig (a run's settings, checked field by field),
// Trainer (the training loop: data, evaluation, checkpoints, the run's
// record), Executor (runs one step of a lowered schedule; it decides
// nothing), Stage (a part of the model on a device, with its stash pool),
// StepInput and StepResult (a step's data and what it did, per action),
// Summary (summary.json), NumericError, SampleConfig.
//
// The pure schedule algebra is in runtime/schedule, the devices in
// runtime/device, the reports in runtime/report.
package runtime
