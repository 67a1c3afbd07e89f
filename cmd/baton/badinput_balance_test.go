// The bad-input catalogue for balancing: slowed devices, measured splits and live rebalancing.

package main

import (
	"testing"
)

// balanceCases are balancing settings no run can use, refused before any
// step, naming the flag, and replays that cannot be made.
func balanceCases() []badInput {
	return append([]badInput{
		{name: "slow-down below 1", args: train("--devices=cpu:0,cpu:1~0.5"), code: 2, msg: `bad device "cpu:1~0.5"; the slow-down after ~ must be a number from 1 to 100`},
		{name: "slow-down not a number", args: train("--devices=cpu:0~slow"), code: 2, msg: `bad device "cpu:0~slow"`},
		{name: "slowed device listed twice", args: train("--devices=cpu:0,cpu:0~2"), code: 2, msg: "cpu:0 (as cpu:0 and cpu:0~2) is listed twice"},
		{name: "unknown balance", args: train("--balance=time"), code: 2, msg: `--balance "time" is not one of flops, measured`},
		{name: "empty balance", args: train("--balance="), code: 2, msg: "--balance is empty; give flops or measured"},
		{name: "empty recompute", args: train("--recompute="), code: 2, msg: "--recompute is empty; give none, gelu or block"},
		{name: "unknown rebalance", args: train("--rebalance=on"), code: 2, msg: `--rebalance "on" is not one of off, auto`},
		{name: "rebalance with a split", args: train("--devices=cpu:0,cpu:1", "--rebalance=auto", "--split=1,1"), code: 2, msg: "--rebalance auto chooses the split itself; drop --split"},
		{name: "measured balance on one device", args: train("--devices=cpu:0", "--balance=measured"), code: 2, msg: "--balance measured needs two stages or more"},
		{name: "rebalance gain of 1", args: train("--rebalance=auto", "--rebalance-gain=1"), code: 2, msg: "--rebalance-gain is 1; give the predicted gain"},
		{name: "rebalance gain NaN", args: train("--rebalance=auto", "--rebalance-gain=NaN"), code: 2, msg: "--rebalance-gain is NaN"},
		{name: "rebalance gain of 0", args: train("--rebalance=auto", "--rebalance-gain=0"), code: 2, msg: "--rebalance-gain is 0; give the predicted gain a move needs as a fraction above 0"},
		{name: "too few steps to re-split", args: train("--balance=measured"), code: 2, msg: "--balance measured re-splits after a first step and --rebalance-warmup (3) measured steps, and the new split needs a step to run: --steps 3 is too few"},
		{name: "rebalance warm-up of 0", args: train("--rebalance=auto", "--rebalance-warmup=0"), code: 2, msg: "--rebalance-warmup is 0"},
		{name: "kernel profile with rebalancing", args: train("--devices=cpu:0,cpu:1", "--rebalance=auto", "--profile-kernels"), code: 2, msg: "--profile-kernels times the kernels of the stages the run starts with"},
	}, replayCases()...)
}

// replayCases are plan --replay command lines that cannot be answered: a
// damaged summary, flags the replay would ignore, sizes nothing fits; and
// plans whose split or schedule file cannot fit the model.
func replayCases() []badInput {
	trained := "run/: a 2-step run of the tiny model"
	plan := func(flags ...string) []string { return append([]string{"plan", "--replay=run"}, flags...) }
	run := withRun(nil)
	return []badInput{
		{name: "plan replay of a summary without devices", args: plan(), fixture: trained + `; summary.json's "devices" is []`,
			setup: withRun(editSummary(func(s map[string]any) { s["devices"] = []any{} })), code: 2, msg: "--replay: run/summary.json lists no devices"},
		{name: "plan replay of a summary with zero micro-batches", args: plan(), fixture: trained + `; summary.json's "microbatches" is 0`,
			setup: withRun(editSummary(func(s map[string]any) { s["microbatches"] = 0 })), code: 2, msg: "run/summary.json has batch 8 in 0 micro-batches"},
		{name: "plan replay with a model flag", args: plan("--layers=48", "--batch=64"), fixture: trained, setup: run, code: 2, msg: "--replay takes the model and the batch from the run; drop --layers, --batch"},
		{name: "plan replay with a layer map", args: plan("--layer-map=0,1"), fixture: trained, setup: run, code: 2, msg: "drop --layer-map (--layer-map 0,0,0,1 is --split 3,1)"},
		{name: "plan replay with devices-max", args: plan("--devices-max=3"), fixture: trained, setup: run, code: 2, msg: "--devices-max tabulates a model's memory"},
		{name: "plan replay with top but no search", args: plan("--top=3"), fixture: trained, setup: run, code: 2, msg: "--top counts the choices of --balance measured"},
		{name: "plan replay search of no choices", args: plan("--balance=measured", "--top=0"), fixture: trained, setup: run, code: 2, msg: "--top is 0"},
		{name: "plan replay search with a schedule", args: plan("--balance=measured", "--schedule=gpipe"), fixture: trained, setup: run, code: 2, msg: "--balance measured chooses the schedule, micro-batches, chunks, split and recomputation; drop --schedule"},
		{name: "plan replay search on more devices than layers", args: plan("--balance=measured", "--devices=cpu:0..2"), fixture: trained, setup: run, code: 2,
			msg: "3 devices but only 2 layers in the run's model"},
		{name: "plan replay search that nothing fits, in JSON", args: plan("--balance=measured", "--device-memory=1KiB", "--json"), fixture: trained, setup: run, code: 1,
			msg: "no choice fits 1.00 KiB per device"},
		{name: "plan layer map leaving a chunk's stage empty", args: []string{"plan", "--model=tiny", "--layers=4", "--devices=cpu:0,cpu:1", "--schedule=interleaved", "--chunks=2", "--microbatches=2", "--layer-map=0,0,1,1"},
			code: 2, msg: "gives stage 2 (on cpu:0) no layer: 2 devices × 2 chunks = 4 stages"},
		{name: "plan schedule file of more stages than layers", args: []string{"plan", "--model=tiny", "--devices=cpu:0,cpu:1", "--schedule-file=s.csv"},
			fixture: "s.csv: interleaved, 2 rows × 2 chunks, 2 micro-batches (baton schedule --out)", setup: writeFile("s.csv", []byte(interleavedRows)),
			code: 2, msg: "--schedule-file s.csv has 4 stages (2 chunks on each of its 2 rows) but the model has only 2 layers"},
		{name: "train schedule file of more stages than layers", args: train("--schedule-file=s.csv", "--batch=4"),
			fixture: "s.csv: interleaved, 2 rows × 2 chunks, 2 micro-batches (baton schedule --out)", setup: writeFile("s.csv", []byte(interleavedRows)),
			code: 2, msg: "--schedule-file s.csv has 4 stages (2 chunks on each of its 2 rows) but the model has only 2 layers"},
		{name: "plan schedule file micro-batches not dividing the batch", args: []string{"plan", "--model=tiny", "--devices=cpu:0,cpu:1", "--batch=4", "--schedule-file=s.csv"},
			fixture: "s.csv: rows 0F0,0F1,0F2,0B0,0B1,0B2,0STEP and 1F0,1B0,1F1,1B1,1F2,1B2,1STEP", setup: writeFile("s.csv", []byte("0F0,0F1,0F2,0B0,0B1,0B2,0STEP\n1F0,1B0,1F1,1B1,1F2,1B2,1STEP\n")),
			code: 2, msg: "--schedule-file s.csv has 3 micro-batches, which do not divide --batch 4"},
	}
}

// interleavedRows is a schedule file of 2 devices × 2 chunks, 2 micro-batches.
const interleavedRows = "0F0,0F1,2F0,2F1,2B0,2B1,0B0,0B1,0STEP,2STEP\n1F0,1F1,3F0,3B0,3F1,3B1,1B0,1B1,1STEP,3STEP\n"

// editSummary rewrites run/summary.json through edit.
func editSummary(edit func(map[string]any)) func(t *testing.T, dir string) {
	return editJSON("run/summary.json", edit)
}
