// Package schedule is baton's pure core: pipeline schedules as data, with no
// devices, goroutines or clocks. A schedule is one list of actions per device
// for one training step; everything here makes, reads or rewrites such
// lists, and the transcripts under testdata/transcripts pin what it does.
//
// Main types and functions: Action and Kind (a unit of work, printed as
// "2F0" and parsed back); Schedule, made by GenerateChunks from the trait
// table (Traits, Lookup: per name its generator, chunks, micro-batches,
// split backward and analytic bubble with its Formula) or read from a file
// (ReadCSV, WriteCSV); Lower (adds sends and receives); Validate (order and
// count rules, ActionError); Simulate (a replay on a cost model: Timeline,
// Deadlock); PeakInFlight, StashBound and StashRules (the activation stashes
// a schedule holds, by the release rule the executor follows).
package schedule
