// Bad --init-from command lines: a missing directory, a run with no checkpoint yet (and sample from one), the checkpoint --out would replace, with --resume (or --resume with --overwrite), a tensor of another shape, a model that disagrees.

package main

// initFromCases start a run from another run's weights.
func initFromCases(trained string) []badInput {
	return []badInput{
		{name: "init-from nowhere", args: train("--init-from=nowhere", "--out=new"), code: 1, msg: "--init-from nowhere: no such directory"},
		{name: "init-from a run with no checkpoint yet", args: train("--init-from=young", "--out=new"), fixture: "young/run.json: {}",
			setup: writeFile("young/run.json", []byte("{}")), code: 1, msg: "--init-from young: the run has no checkpoint yet (no young/checkpoint): a run saves one every --save-every steps and at its end"},
		{name: "sample from a run with no checkpoint yet", args: []string{"sample", "--from=young"}, fixture: "young/run.json: {}",
			setup: writeFile("young/run.json", []byte("{}")), code: 1, msg: "--from young: the run has no checkpoint yet (no young/checkpoint)"},
		{name: "init-from with resume", args: train("--init-from=run", "--resume"), fixture: trained, setup: withRun(nil), code: 2,
			msg: "--init-from starts a new run from a model's weights and --resume continues a run; give one of them"},
		{name: "init-from in a config file with resume", args: train("--config=c.json", "--resume"), fixture: trained + `; c.json: {"init-from": "run"}`,
			setup: withRun(writeFile("c.json", []byte(`{"init-from": "run"}`))), code: 2,
			msg: "init-from = run in c.json starts a new run from a model's weights and --resume continues a run; drop init-from from c.json"},
		{name: "resume with overwrite", args: train("--resume", "--overwrite"), fixture: trained, setup: withRun(nil), code: 2,
			msg: "--overwrite starts the run in --out over and --resume continues it; give one of them"},
		{name: "init-from the checkpoint that --overwrite would replace", args: train("--init-from=run/checkpoint", "--out=run", "--overwrite"), fixture: trained, setup: withRun(nil), code: 2,
			msg: "--init-from run/checkpoint is in --out run, where a run writes its own checkpoint; move it out"},
		{name: "init-from a tensor of another shape", args: train("--init-from=run", "--out=new"), fixture: trained + "; wpe.weight stored as [32 16] instead of [16 32]",
			setup: withRun(reshape("wpe.weight", 32, 16)), code: 1, msg: "tensor wpe.weight has shape [32 16], want [16 32]"},
		{name: "init-from another model", args: train("--init-from=run", "--out=new", "--layers=3"), fixture: trained, setup: withRun(nil), code: 2,
			msg: "--init-from run holds the model V=256 T=16 C=32 NH=4 L=2, which differs from the one asked for (V=256 T=16 C=32 NH=4 L=3)"},
		{name: "init-from with another width and no preset", args: []string{"train", "--devices=cpu:0", "--data=corpus.txt", "--init-from=run", "--out=new", "--width=64"},
			fixture: trained, setup: withRun(nil), code: 2,
			msg: "--init-from run holds the model V=256 T=16 C=32 NH=4 L=2, which differs from the one asked for (V=256 T=16 C=64 NH=4 L=2)"},
	}
}
