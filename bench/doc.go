// Package bench is baton's benchmark harness: it sweeps devices × schedule ×
// micro-batches × model, trains each point with runtime.Trainer, and writes
// the results as a dated Markdown report, its CSV and charts.
//
// Main types: Options (what to sweep), Result (one measured point),
// Machine (what the figures were measured on).
package bench
