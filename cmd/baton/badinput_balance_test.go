// The bad-input catalogue for balancing: slowed devices, measured splits and live rebalancing.

package main

// balanceCases are balancing settings no run can use, refused before any
// step, naming the flag.
func balanceCases() []badInput {
	return []badInput{
		{name: "slow-down below 1", args: train("--devices=cpu:0,cpu:1~0.5"), code: 2, msg: `bad device "cpu:1~0.5"; the slow-down after ~ must be a number from 1 to 100`},
		{name: "slow-down not a number", args: train("--devices=cpu:0~slow"), code: 2, msg: `bad device "cpu:0~slow"`},
		{name: "slowed device listed twice", args: train("--devices=cpu:0,cpu:0~2"), code: 2, msg: "cpu:0~2 is listed twice"},
		{name: "unknown balance", args: train("--balance=time"), code: 2, msg: `--balance "time" is not one of flops, measured`},
		{name: "unknown rebalance", args: train("--rebalance=on"), code: 2, msg: `--rebalance "on" is not one of off, auto`},
		{name: "rebalance with a split", args: train("--devices=cpu:0,cpu:1", "--rebalance=auto", "--split=1,1"), code: 2, msg: "--rebalance auto chooses the split itself; drop --split"},
		{name: "measured balance on one device", args: train("--devices=cpu:0", "--balance=measured"), code: 2, msg: "--balance measured needs two stages or more"},
		{name: "rebalance gain of 1", args: train("--rebalance=auto", "--rebalance-gain=1"), code: 2, msg: "--rebalance-gain is 1; give the predicted gain"},
		{name: "rebalance gain NaN", args: train("--rebalance=auto", "--rebalance-gain=NaN"), code: 2, msg: "--rebalance-gain is NaN"},
		{name: "rebalance gain of 0", args: train("--rebalance=auto", "--rebalance-gain=0"), code: 2, msg: "--rebalance-gain is 0; give the predicted gain a move needs as a fraction above 0"},
		{name: "too few steps to re-split", args: train("--balance=measured"), code: 2, msg: "--balance measured re-splits after a first step and --rebalance-warmup (3) measured steps, and the new split needs a step to run: --steps 3 is too few"},
		{name: "rebalance warm-up of 0", args: train("--rebalance=auto", "--rebalance-warmup=0"), code: 2, msg: "--rebalance-warmup is 0"},
		{name: "kernel profile with rebalancing", args: train("--devices=cpu:0,cpu:1", "--rebalance=auto", "--profile-kernels"), code: 2, msg: "--profile-kernels times the kernels of the stages the run starts with"},
	}
}
