// The bad-input catalogue, continued: numbers that mean nothing, output paths, and more of each kind of mistake.

package main

import (
	"strings"
	"testing"
)

// numberCases are numbers no run can use: not finite, negative, zero where
// a count must be positive, or too large to allocate or schedule. Each is
// refused before any work, naming the flag.
func numberCases() []badInput {
	cases := []badInput{
		{name: "infinite learning rate", args: train("--lr=Inf"), code: 2, msg: "--lr is +Inf"},
		{name: "negative infinite learning rate", args: train("--lr=-Inf"), code: 2, msg: "--lr is -Inf"},
		{name: "zero learning rate", args: train("--lr=0"), code: 2, msg: "--lr is 0"},
		{name: "NaN final learning rate", args: train("--min-lr=NaN"), code: 2, msg: "--min-lr is NaN"},
		{name: "final learning rate above the peak", args: train("--min-lr=0.1"), code: 2, msg: "--min-lr is 0.1; it must be between 0 and --lr"},
		{name: "NaN weight decay", args: train("--weight-decay=NaN"), code: 2, msg: "--weight-decay is NaN"},
		{name: "infinite weight decay", args: train("--weight-decay=Inf"), code: 2, msg: "--weight-decay is +Inf"},
		{name: "negative weight decay", args: train("--weight-decay=-1"), code: 2, msg: "--weight-decay is -1"},
		{name: "NaN gradient clip", args: train("--max-grad-norm=NaN"), code: 2, msg: "--max-grad-norm is NaN"},
		{name: "infinite gradient clip", args: train("--max-grad-norm=Inf"), code: 2, msg: "--max-grad-norm is +Inf"},
		{name: "zero evaluation batches", args: train("--eval-batches=0"), code: 2, msg: "--eval-batches is 0; it must be at least 1"},
		{name: "negative data limit", args: train("--data-limit=-5"), code: 2, msg: "--data-limit is -5; give a number of bytes, or 0 for no limit"},
		{name: "zero batch", args: train("--batch=0"), code: 2, msg: "--batch is 0"},
		{name: "negative batch", args: train("--batch=-8"), code: 2, msg: "--batch is -8"},
		{name: "negative steps", args: train("--steps=-1"), code: 2, msg: "--steps is -1"},
		{name: "steps past what a checkpoint keeps", args: train("--steps=9223372036854775807"), code: 2, msg: "--steps is 9223372036854775807, more than 10000000"},
		{name: "negative context", args: train("--context=-1"), code: 2, msg: "n_positions (T) is -1"},
		{name: "learning rate not a number", args: train("--lr=fast"), code: 2, msg: `invalid argument "fast" for "--lr"`},
		{name: "warm-up not a number", args: train("--warmup=2.5"), code: 2, msg: `invalid argument "2.5" for "--warmup"`},
		{name: "batch of nine quintillion", args: train("--batch=9223372036854775800", "--microbatches=1"), code: 2, msg: "is more than 268435456 tokens per step"},
		{name: "negative micro-batches", args: train("--microbatches=-2"), code: 2, msg: "--microbatches is -2"},
		{name: "negative chunks", args: train("--chunks=-1"), code: 2, msg: "--chunks is -1"},
		{name: "zero chunks", args: train("--chunks=0"), code: 2, msg: "--chunks is 0; give the stages per device, at least 1"},
		{name: "zero layers", args: train("--layers=0"), code: 2, msg: "--layers is 0; give the decoder blocks, at least 1, or leave --layers out for the preset's 2"},
		{name: "plan zero context", args: []string{"plan", "--model=tiny", "--context=0"}, code: 2, msg: "--context is 0; give the tokens per sequence, at least 1, or leave --context out for the preset's 16"},
		{name: "negative seed", args: train("--seed=-1"), code: 2, msg: `invalid argument "-1" for "--seed"`},
		{name: "timeout not a duration", args: train("--timeout=soon"), code: 2, msg: `invalid argument "soon" for "--timeout"`},
		{name: "a hundred thousand layers", args: train("--layers=100000"), code: 2, msg: "n_layer (L) is 100000; at most 16384"},
		{name: "negative width", args: train("--width=-4"), code: 2, msg: "n_embd (C) is -4"},
		{name: "width too wide to allocate", args: train("--width=65536", "--heads=1"), code: 2, msg: "mlp.c_fc.weight (4·C=262144 × n_embd C=65536) would have 17179869184 elements, 2^31 or more; reduce --width"},
		{name: "sample NaN temperature", args: []string{"sample", "--from=run", "--temperature=NaN"}, code: 2, msg: "--temperature is NaN"},
		{name: "sample infinite temperature", args: []string{"sample", "--from=run", "--temperature=Inf"}, code: 2, msg: "--temperature is +Inf"},
		{name: "sample negative temperature", args: []string{"sample", "--from=run", "--temperature=-1"}, code: 2, msg: "--temperature is -1"},
		{name: "sample negative top-k", args: []string{"sample", "--from=run", "--top-k=-1"}, code: 2, msg: "--top-k is -1"},
		{name: "sample top-p above 1", args: []string{"sample", "--from=run", "--top-p=1.5"}, code: 2, msg: "--top-p is 1.5; it must be from 0 to 1"},
		{name: "sample NaN top-p", args: []string{"sample", "--from=run", "--top-p=NaN"}, code: 2, msg: "--top-p is NaN"},
		{name: "plan batch of four billion", args: []string{"plan", "--model=tiny", "--devices=cpu:0", "--batch=4000000000", "--microbatches=1"}, code: 2, msg: "is more than 268435456 tokens"},
		{name: "plan zero micro-batches", args: []string{"plan", "--model=tiny", "--microbatches=0"}, code: 2, msg: "--microbatches is 0; give the micro-batches per step, at least 1"},
		{name: "plan negative batch", args: []string{"plan", "--model=tiny", "--devices=cpu:0", "--batch=-1"}, code: 2, msg: "--batch is -1; give the sequences per step, at least 1"},
		{name: "plan zero chunks", args: []string{"plan", "--model=tiny", "--chunks=0"}, code: 2, msg: "--chunks is 0; give the stages per device, at least 1"},
		{name: "schedule of a million stages", args: []string{"schedule", "--stages=1000000"}, code: 2, msg: "too large to schedule"},
		{name: "schedule of a hundred thousand micro-batches", args: []string{"schedule", "--microbatches=100000"}, code: 2, msg: "too large to schedule"},
		{name: "schedule negative micro-batches", args: []string{"schedule", "--microbatches=-1"}, code: 2, msg: "--microbatches is -1"},
		{name: "schedule zero chunks", args: []string{"schedule", "--chunks=0"}, code: 2, msg: "--chunks is 0"},
		{name: "schedule NaN forward cost", args: []string{"schedule", "--cost-f=NaN"}, code: 2, msg: "--cost-f is NaN"},
		{name: "schedule infinite backward cost", args: []string{"schedule", "--cost-b=Inf"}, code: 2, msg: "--cost-b +Inf"},
		{name: "bench zero steps", args: []string{"bench", "--quick", "--steps=0"}, code: 2, msg: "--steps is 0"},
		{name: "bench zero devices", args: []string{"bench", "--quick", "--devices-max=0"}, code: 2, msg: "--devices-max is 0"},
		{name: "bench five thousand devices", args: []string{"bench", "--quick", "--devices-max=5000"}, code: 2, msg: "at most 1024 virtual CPU devices"},
		{name: "bench zero batch", args: []string{"bench", "--quick", "--batch=0"}, code: 2, msg: "--batch is 0"},
		{name: "bench zero chunks", args: []string{"bench", "--quick", "--chunks=0"}, code: 2, msg: "--chunks is 0"},
		{name: "bench zero micro-batches", args: []string{"bench", "--quick", "--microbatches=0"}, code: 2, msg: "--microbatches has 0; give counts of micro-batches, each at least 1"},
		{name: "bench micro-batches twice", args: []string{"bench", "--quick", "--microbatches=4,4"}, code: 2, msg: "--microbatches lists 4 twice; a sweep runs each point once: give it once"},
		{name: "bench schedule twice", args: []string{"bench", "--quick", "--schedules=1f1b,gpipe,1f1b"}, code: 2, msg: "--schedules lists 1f1b twice"},
		{name: "empty cuda-graphs", args: train("--cuda-graphs="), code: 2, msg: "--cuda-graphs is empty; give on, off or auto"},
		{name: "train empty out", args: []string{"train", "--model=tiny", "--devices=cpu:0", "--data=corpus.txt", "--steps=1", "--out="}, code: 2, msg: "--out is empty; give the run directory, or leave --out out for runs/<date-time>"},
		{name: "bench empty out", args: []string{"bench", "--quick", "--out="}, code: 2, msg: "--out is empty; give the directory of the report"},
		{name: "bench negative data limit", args: []string{"bench", "--quick", "--data-limit=-1"}, code: 2, msg: "--data-limit is -1"},
	}
	for _, f := range []string{"warmup", "eval-every", "save-every"} {
		cases = append(cases, badInput{name: "negative " + strings.ReplaceAll(f, "-", " "), args: train("--" + f + "=-1"), code: 2, msg: "--" + f + " is -1; it must not be negative"})
	}
	return cases
}

// pathCases are output paths that cannot be written, or that would
// overwrite or be read as an input: refused before any training.
func pathCases() []badInput {
	long := strings.Repeat("n", 300)
	texts := writeFile("texts/a.txt", []byte(strings.Repeat("func main() { return nil }\n", 400)))
	return []badInput{
		{name: "out is /dev/null", args: train("--out=/dev/null"), code: 2, msg: "--out /dev/null: mkdir /dev/null: not a directory"},
		{name: "out names a file", args: train("--out=afile"), fixture: "afile: a file", setup: writeFile("afile", []byte("x")), code: 2, msg: "--out afile: mkdir afile: not a directory"},
		{name: "out beneath a file", args: train("--out=afile/run"), fixture: "afile: a file", setup: writeFile("afile", []byte("x")), code: 2, msg: "--out afile/run: mkdir afile: not a directory"},
		{name: "out with an over-long name", args: train("--out=" + long), code: 2, msg: "file name too long"},
		{name: "out is the data file", args: train("--out=corpus.txt"), code: 2, msg: "--out corpus.txt is also --data"},
		{name: "out inside the data directory", args: train("--data=texts", "--out=texts/run"), fixture: "texts/a.txt: 11 KB of text",
			setup: texts, code: 2, msg: "--out texts/run lies inside --data texts"},
		{name: "data where the run writes its summary", args: train("--data=run/summary.json"), fixture: "run/summary.json: 11 KB of text",
			setup: writeFile("run/summary.json", []byte(strings.Repeat("func main() { return nil }\n", 400))), code: 2, msg: "where a run writes its own summary.json"},
		{name: "profile over the data", args: train("--cpuprofile=corpus.txt"), code: 2, msg: "--cpuprofile corpus.txt is also --data"},
		{name: "profile over the run's summary", args: train("--cpuprofile=run/summary.json"), code: 2, msg: "--cpuprofile run/summary.json is in --out run, where a run writes its own summary.json; write it elsewhere"},
		{name: "profile in no directory", args: train("--cpuprofile=nowhere/p.out"), code: 2, msg: "--cpuprofile nowhere/p.out: cannot write beside it (no such file or directory); give a path in a directory that exists"},
		{name: "profile over the schedule file", args: train("--schedule-file=s.csv", "--cpuprofile=s.csv"), fixture: "s.csv: rows 0F0,0B0,0STEP and 1F0,1B0,1STEP",
			setup: writeFile("s.csv", []byte("0F0,0B0,0STEP\n1F0,1B0,1STEP\n")), code: 2, msg: "--cpuprofile s.csv is also --schedule-file"},
		{name: "one path for two outputs", args: []string{"schedule", "--stages=2", "--microbatches=2", "--out=s", "--svg=./s"}, code: 2, msg: "--out s is also --svg: one output would overwrite the other"},
		{name: "schedule written over a directory", args: []string{"schedule", "--stages=2", "--microbatches=2", "--out=texts"}, fixture: "texts/a.txt: 11 KB of text",
			setup: texts, code: 2, msg: "--out texts is a directory; give a file path"},
		{name: "bench out is /dev/null", args: []string{"bench", "--quick", "--out=/dev/null"}, code: 2, msg: "--out /dev/null: mkdir /dev/null: not a directory"},
		{name: "bench out names a file", args: []string{"bench", "--quick", "--out=afile"}, fixture: "afile: a file", setup: writeFile("afile", []byte("x")), code: 2, msg: "--out afile: mkdir afile: not a directory"},
	}
}

// moreDeviceCases are more device lists and splits that cannot work.
func moreDeviceCases() []badInput {
	return []badInput{
		{name: "1025 devices", args: train("--devices=cpu:0..1024"), code: 2, msg: "at most 1024 virtual CPU devices"},
		{name: "negative device index", args: train("--devices=cpu:-1"), code: 2, msg: `bad device "cpu:-1"`},
		{name: "device index not a number", args: train("--devices=cpu:x"), code: 2, msg: `bad device "cpu:x"`},
		{name: "open device range", args: train("--devices=cpu:1.."), code: 2, msg: `bad range "cpu:1.."`},
		{name: "device kind without an index", args: train("--devices=cuda"), code: 2, msg: `unknown device "cuda"`},
		{name: "empty entry in the device list", args: train("--devices=cpu:0,,cpu:1"), code: 2, msg: `--devices cpu:0,,cpu:1 has an empty entry (a comma too many?)`},
		{name: "trailing comma in the device list", args: train("--devices=cpu:0,"), code: 2, msg: `--devices cpu:0, has an empty entry (a comma too many?)`},
		{name: "cpu and cuda devices mixed in the CPU build", args: train("--devices=cpu:0,cuda:0"), code: 2, msg: "built without CUDA support"},
		{name: "GPU partitions in the CPU build", args: train("--devices=cuda:0/4"), code: 2, msg: "built without CUDA support"},
		{name: "layer map not integers", args: train("--layer-map=0,a"), code: 2, msg: `("a") is not an integer`},
		{name: "layer map too short", args: train("--layer-map=0"), code: 2, msg: "has 1 entries but the model has 2 layers"},
		{name: "layer map past the devices", args: train("--layer-map=0,5"), code: 2, msg: "puts layer 1 on device 5"},
		{name: "layer map leaving a device idle", args: train("--layer-map=0,0"), code: 2, msg: "gives device 1 (cpu:1) no layer"},
		{name: "layer map out of device order", args: train("--layer-map=1,0"), code: 2, msg: "runs device 0 after device 1"},
		{name: "split with a count per device missing", args: train("--split=2"), code: 2, msg: "has 1 entries but there are 2 devices"},
		{name: "split stage larger than the model", args: train("--split=5,1"), code: 2, msg: "gives stage 0 5 layers but the model has only 2"},
		{name: "split and layer map both", args: train("--split=1,1", "--layer-map=0,1"), code: 2, msg: "both --split and --layer-map given"},
		{name: "chunks for a schedule without them", args: train("--chunks=2"), code: 2, msg: "--chunks 2 puts several stages on each device, which --schedule 1f1b does not (one stage each); give --chunks 1, or --schedule interleaved"},
		{name: "interleaved micro-batches not a multiple of the devices", args: train("--layers=4", "--schedule=interleaved", "--chunks=2", "--microbatches=1"), code: 2,
			msg: "interleaving needs micro-batches to be a multiple of devices"},
		{name: "interleaved micro-batches: the suggestion divides the batch", args: train("--devices=cpu:0..2", "--layers=6", "--schedule=interleaved", "--chunks=2", "--microbatches=4", "--batch=12"), code: 2,
			msg: "use --microbatches 3, which divides --batch 12"},
		{name: "interleaved micro-batches: no multiple of the devices divides the batch", args: train("--devices=cpu:0..2", "--layers=6", "--schedule=interleaved", "--chunks=2", "--microbatches=4", "--batch=8"), code: 2,
			msg: "no multiple of 3 divides --batch 8"},
		{name: "more stages than layers with chunks", args: train("--schedule=interleaved", "--chunks=2", "--microbatches=2"), code: 2, msg: "2 devices × 2 chunks = 4 stages but only 2 layers"},
	}
}

// moreModelCases are more models and settings that cannot be trained.
func moreModelCases() []badInput {
	return []badInput{
		{name: "empty schedule name", args: train("--schedule="), code: 2, msg: `unknown schedule ""`},
		{name: "empty model name", args: train("--model="), code: 2, msg: `unknown preset ""`},
		{name: "heads not dividing the width", args: train("--heads=3"), code: 2, msg: "not divisible by n_head"},
		{name: "negative heads", args: train("--heads=-1"), code: 2, msg: "n_head (NH) is -1"},
		{name: "unknown precision", args: train("--precision=fp16"), code: 2, msg: `--precision "fp16": want fp32`},
		{name: "bf16 on CPU devices", args: train("--precision=bf16"), code: 2, msg: "--precision bf16 needs CUDA devices, and cpu:0 is a CPU device"},
		{name: "tf32 on CPU devices", args: train("--precision=tf32"), code: 2, msg: "--precision tf32 needs CUDA devices, and cpu:0 is a CPU device"},
		{name: "unknown bf16 rounding", args: train("--bf16-rounding=up"), code: 2, msg: `--bf16-rounding "up": want nearest or stochastic`},
		{name: "stochastic rounding without bf16", args: train("--bf16-rounding=stochastic"), code: 2, msg: "--bf16-rounding stochastic rounds bf16 weights, and --precision is fp32"},
		{name: "unknown cuda-graphs", args: train("--cuda-graphs=maybe"), code: 2, msg: `--cuda-graphs "maybe" is not one of on, off, auto`},
		{name: "cuda-graphs on CPU devices", args: train("--cuda-graphs=on"), code: 2, msg: "cpu:0 is not a CUDA device"},
		{name: "empty precision", args: train("--precision="), code: 2, msg: `--precision "": want fp32`},
	}
}

// moreDataCases are more data that cannot be read or trained on.
func moreDataCases() []badInput {
	return []badInput{
		{name: "data directory of binary files", args: train("--data=texts"), fixture: "texts/blob.dat: 4 KiB of bytes 0..255",
			setup: writeFile("texts/blob.dat", allBytes(4096)), code: 1, msg: "texts has no text files"},
		{name: "shard with no tokens", args: train("--data=train.bin"), fixture: "train.bin: a shard whose header says 0 tokens",
			setup: writeFile("train.bin", shard(20240520, 1, 0, nil)), code: 1, msg: "train.bin"},
		{name: "shard shorter than its header", args: train("--data=train.bin"), fixture: "train.bin: a shard's first 100 bytes",
			setup: writeFile("train.bin", shard(20240520, 1, 10, tokens(10, 256))[:100]), code: 1, msg: "train.bin is truncated: 100 bytes, shorter than the 1024-byte"},
	}
}

// moreScheduleFileCases are more schedule files that cannot run.
func moreScheduleFileCases() []badInput {
	file := func(rows string) func(t *testing.T, dir string) { return writeFile("s.csv", []byte(rows)) }
	return []badInput{
		{name: "empty schedule file", args: train("--schedule-file=s.csv"), fixture: "s.csv: 0 bytes", setup: file(""), code: 2, msg: "s.csv"},
		{name: "schedule file that is a directory", args: train("--schedule-file=s.csv"), fixture: "s.csv/: a directory", setup: mkdir("s.csv"), code: 2, msg: "s.csv"},
		{name: "schedule file with a STEP before another stage's backward", args: train("--schedule-file=s.csv", "--layers=4"), fixture: "s.csv: rows 0F0,0F1,2F0,2F1,2B0,2B1,2STEP,0B0,0B1,0STEP and 1F0,1F1,3F0,3B0,3F1,3B1,3STEP,1B0,1B1,1STEP",
			setup: writeFile("s.csv", []byte("0F0,0F1,2F0,2F1,2B0,2B1,2STEP,0B0,0B1,0STEP\n1F0,1F1,3F0,3B0,3F1,3B1,3STEP,1B0,1B1,1STEP\n")), code: 2,
			msg: "row 1, column 8 (0B0): 0B0 follows a STEP of this device; a device's STEPs end its list: move them after its other actions (the other: column 7)"},
		{name: "schedule file running a forward twice", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0F0,0B0,0STEP and 1F0,1B0,1STEP",
			setup: file("0F0,0F0,0B0,0STEP\n1F0,1B0,1STEP\n"), code: 2, msg: "row 1, column 2 (0F0): micro-batch 0 already has a forward"},
		{name: "schedule file with a W before its I", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0W0,0I0,0STEP and 1F0,1B0,1STEP",
			setup: file("0F0,0W0,0I0,0STEP\n1F0,1B0,1STEP\n"), code: 2, msg: "has no I before its W"},
		{name: "schedule file skipping micro-batch 0", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F1,0B1,0STEP and 1F1,1B1,1STEP",
			setup: file("0F1,0B1,0STEP\n1F1,1B1,1STEP\n"), code: 2, msg: "micro-batch 0 is in no action, but 1 is: number the micro-batches 0, 1, 2, … with none left out"},
		{name: "schedule file with STEP before a backward", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0STEP,0B0 and 1F0,1B0,1STEP",
			setup: file("0F0,0STEP,0B0\n1F0,1B0,1STEP\n"), code: 2, msg: "STEP"},
		{name: "schedule file with a negative stage", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows -1F0,0F0,0B0,0STEP and 1F0,1B0,1STEP",
			setup: file("-1F0,0F0,0B0,0STEP\n1F0,1B0,1STEP\n"), code: 2, msg: "want a stage number first"},
		{name: "schedule file with a STEP of a micro-batch", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0B0,0STEP1 and 1F0,1B0,1STEP",
			setup: file("0F0,0B0,0STEP1\n1F0,1B0,1STEP\n"), code: 2, msg: "STEP takes no micro-batch"},
	}
}

// moreComputeCases are more mistakes in the commands that only compute.
func moreComputeCases() []badInput {
	return []badInput{
		{name: "plan replay of nowhere", args: []string{"plan", "--replay=nowhere"}, code: 2, msg: "--replay"},
		{name: "plan replay of a file", args: []string{"plan", "--replay=corpus.txt"}, code: 2, msg: "--replay"},
		{name: "plan unknown schedule", args: []string{"plan", "--model=tiny", "--schedule=zigzag"}, code: 2, msg: `unknown schedule "zigzag"`},
		{name: "plan unknown device", args: []string{"plan", "--model=tiny", "--devices=gpu:0"}, code: 2, msg: `unknown device "gpu:0"`},
		{name: "plan more devices than layers", args: []string{"plan", "--model=tiny", "--devices=cpu:0..3"}, code: 2, msg: "4 devices but only 2 layers"},
		{name: "plan device memory not a size", args: []string{"plan", "--model=tiny", "--devices=cpu:0", "--device-memory=lots"}, code: 2, msg: `--device-memory "lots" is not a size`},
		{name: "plan unknown optimizer step", args: []string{"plan", "--model=tiny", "--optimizer-step=lazy"}, code: 2, msg: `--optimizer-step "lazy" is not one of default, eager`},
		{name: "plan device memory of zero", args: []string{"plan", "--model=tiny", "--devices=cpu:0", "--device-memory=0"}, code: 2, msg: "--device-memory 0: a device's memory is a byte or more"},
		{name: "plan devices-max beyond the devices named", args: []string{"plan", "--model=small", "--devices=cpu:0,cpu:1", "--devices-max=4"}, code: 2, msg: "--devices-max 4 but --devices names 2"},
		{name: "plan devices-max with a split", args: []string{"plan", "--model=small", "--split=4,4", "--devices=cpu:0,cpu:1", "--devices-max=2"}, code: 2, msg: "drop --schedule-file, --split and --layer-map"},
		{name: "schedule interleaved micro-batches not a multiple of the devices", args: []string{"schedule", "--schedule=interleaved", "--chunks=2", "--stages=4", "--microbatches=6"},
			code: 2, msg: "interleaving needs micro-batches to be a multiple of devices"},
		{name: "schedule chunks for 1f1b", args: []string{"schedule", "--chunks=2"}, code: 2, msg: "only interleaved takes chunks"},
		{name: "schedule out beneath /dev/null", args: []string{"schedule", "--out=/dev/null/s.csv"}, code: 2, msg: "--out /dev/null/s.csv: cannot write beside it (not a directory)"},
		{name: "schedule svg beneath a missing directory", args: []string{"schedule", "--svg=nodir/s.svg"}, code: 2, msg: "--svg nodir/s.svg: cannot write beside it (no such file or directory)"},
		{name: "bench unknown schedule", args: []string{"bench", "--quick", "--schedules=zigzag"}, code: 2, msg: `unknown schedule "zigzag"`},
		{name: "bench duplicate device", args: []string{"bench", "--quick", "--devices=cpu:0,cpu:0"}, code: 2, msg: "cpu:0 is listed twice"},
		{name: "bench micro-batches not integers", args: []string{"bench", "--quick", "--microbatches=4,x"}, code: 2, msg: `("x") is not an integer`},
		{name: "devices stray argument", args: []string{"devices", "extra"}, code: 2, msg: `"extra"`},
		{name: "devices unknown flag", args: []string{"devices", "--bogus"}, code: 2, msg: "unknown flag: --bogus"},
	}
}
