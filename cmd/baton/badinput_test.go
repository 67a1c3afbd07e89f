// The bad-input catalogue: each bad command line ends with one line, the right exit status and no output; docs/bad-input.md is its rendering.

package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badInput is one bad command line. It runs in a fresh directory holding
// corpus.txt (a link to the generated corpus) and whatever setup adds, so
// that every path in it, and so every message, is the same on any machine.
type badInput struct {
	name    string
	args    []string // after "baton"
	fixture string   // what setup leaves in the directory, for the doc
	setup   func(t *testing.T, dir string)
	code    int    // 2: a bad flag or configuration; 1: anything else
	msg     string // a substring of the one-line message
}

// train is a quick training command line whose defaults the given flags
// ("--flag=value" or "--flag") replace or extend.
func train(flags ...string) []string {
	args := []string{"--model=tiny", "--devices=cpu:0,cpu:1", "--data=corpus.txt", "--steps=3", "--out=run"}
	for _, f := range flags {
		name, _, _ := strings.Cut(f, "=")
		replaced := false
		for i, a := range args {
			if n, _, _ := strings.Cut(a, "="); n == name {
				args[i], replaced = f, true
			}
		}
		if !replaced {
			args = append(args, f)
		}
	}
	return append([]string{"train"}, args...)
}

// shard is an llm.c token shard: 256 little-endian int32 (magic, version,
// token count, zeros), then the tokens as uint16.
func shard(magic, version, count int32, tokens []uint16) []byte {
	h := make([]int32, 256)
	h[0], h[1], h[2] = magic, version, count
	b, _ := binary.Append(nil, binary.LittleEndian, h)
	b, _ = binary.Append(b, binary.LittleEndian, tokens)
	return b
}

func tokens(n int, max uint16) []uint16 {
	ts := make([]uint16, n)
	for i := range ts {
		ts[i] = uint16(i*7) % max
	}
	return ts
}

const (
	ckModel  = "run/checkpoint/model.safetensors"
	ckConfig = "run/checkpoint/config.json"
	ckState  = "run/checkpoint/state.json"
)

// category is a group of cases: a section of docs/bad-input.md.
type category struct {
	name  string
	cases []badInput
}

// catalogue is every case, by category.
func catalogue() []category {
	trained := "run/: a 2-step run of the tiny model"
	return []category{
		{"Devices and the split of layers over them", append(append(deviceCases(), moreDeviceCases()...), balanceCases()...)},
		{"The model and the optimisation", append(modelCases(), moreModelCases()...)},
		{"Numbers: not finite, negative, zero, too large", numberCases()},
		{"Data: missing or unusable files", append(append(dataCases(), moreDataCases()...), tokenizeCases()...)},
		{"Output paths: writable, and never over an input", pathCases()},
		{"The run directory and its checkpoint", append(runDirCases(trained), initFromCases(trained)...)},
		{"Damaged checkpoints", damagedCheckpoints(trained)},
		{"Sampling", sampleCases(trained)},
		{"Schedule files", append(scheduleFileCases(), moreScheduleFileCases()...)},
		{"The commands that only compute", append(append(computeCases(), moreComputeCases()...), benchCases()...)},
		recordCategory(),
	}
}

// badInputs is every case of the catalogue, in its order.
func badInputs() []badInput {
	var out []badInput
	for _, c := range catalogue() {
		out = append(out, c.cases...)
	}
	return out
}

// deviceCases are devices and the split of layers over them: configuration.
func deviceCases() []badInput {
	return []badInput{
		{name: "unknown device", args: train("--devices=gpu:0"), code: 2, msg: `unknown device "gpu:0"`},
		{name: "duplicate device", args: train("--devices=cpu:0,cpu:0"), code: 2, msg: "cpu:0 is listed twice"},
		{name: "cuda device in the CPU build", args: train("--devices=cuda:0"), code: 2, msg: "built without CUDA support"},
		{name: "bad device range", args: train("--devices=cpu:3..1"), code: 2, msg: `bad range "cpu:3..1"`},
		{name: "device range of a hundred million", args: train("--devices=cpu:0..99999999"), code: 2, msg: "at most 1024 virtual CPU devices"},
		{name: "empty device list", args: train("--devices="), code: 2, msg: "--devices is empty"},
		{name: "more devices than layers", args: train("--devices=cpu:0..2"), code: 2, msg: "3 devices but only 2 layers"},
		{name: "split not summing to the layers", args: train("--split=1,2"), code: 2, msg: "sums to 3 but the model has 2 layers"},
		{name: "empty stage in split", args: train("--split=2,0"), code: 2, msg: "gives stage 1 0 layers"},
		{name: "split not integers", args: train("--split=1,x"), code: 2, msg: `("x") is not an integer`},
		{name: "non-contiguous layer map", args: train("--layers=3", "--layer-map=0,1,0"), code: 2, msg: "is not contiguous"},
	}
}

// modelCases are the model and the optimisation.
func modelCases() []badInput {
	return []badInput{
		{name: "micro-batches not dividing the batch", args: train("--microbatches=3"), code: 2, msg: "--microbatches 3 does not divide --batch 8"},
		{name: "zero micro-batches", args: train("--microbatches=0"), code: 2, msg: "--microbatches is 0"},
		{name: "width not divisible by heads", args: train("--width=30"), code: 2, msg: "not divisible by n_head"},
		{name: "negative layers", args: train("--layers=-1"), code: 2, msg: "n_layer (L) is -1"},
		{name: "unknown model preset", args: train("--model=huge"), code: 2, msg: `unknown preset "huge"`},
		{name: "zero steps", args: train("--steps=0"), code: 2, msg: "--steps is 0"},
		{name: "steps not a number", args: train("--steps=ten"), code: 2, msg: `invalid argument "ten"`},
		{name: "negative learning rate", args: train("--lr=-0.001"), code: 2, msg: "--lr is -0.001"},
		{name: "NaN learning rate", args: train("--lr=NaN"), code: 2, msg: "--lr is NaN"},
		{name: "negative final learning rate", args: train("--min-lr=-1"), code: 2, msg: "--min-lr"},
		{name: "negative gradient clip", args: train("--max-grad-norm=-1"), code: 2, msg: "--max-grad-norm is -1"},
		{name: "negative timeout", args: train("--timeout=-1s"), code: 2, msg: "--timeout is -1s; give a positive duration such as 5m, or 0 to wait without limit"},
		{name: "unknown schedule", args: train("--schedule=zigzag"), code: 2, msg: `unknown schedule "zigzag"`},
		{name: "unknown flag", args: train("--bogus"), code: 2, msg: "unknown flag: --bogus"},
		{name: "stray argument", args: train("extra"), code: 2, msg: `"extra"`},
	}
}

// dataCases are data files missing or unusable.
func dataCases() []badInput {
	return []badInput{
		{name: "missing data path", args: train("--data=nope.txt"), code: 1, msg: "nope.txt does not exist"},
		{name: "empty data file", args: train("--data=empty.txt"), fixture: "empty.txt: 0 bytes",
			setup: writeFile("empty.txt", nil), code: 1, msg: "empty.txt is empty"},
		{name: "binary data file", args: train("--data=blob.dat"), fixture: "blob.dat: 4 KiB of bytes 0..255",
			setup: writeFile("blob.dat", allBytes(4096)), code: 1, msg: "blob.dat looks binary"},
		{name: "empty data directory", args: train("--data=texts"), fixture: "texts/: an empty directory",
			setup: mkdir("texts"), code: 1, msg: "texts has no text files"},
		{name: "too little data for the context", args: train("--data-limit=10"), code: 1, msg: "has only 10 training tokens"},
		{name: "truncated shard", args: train("--data=train.bin"), fixture: "train.bin: a shard whose header says 1000 tokens, holding 100",
			setup: writeFile("train.bin", shard(20240520, 1, 1000, tokens(100, 256))), code: 1, msg: "train.bin is truncated"},
		{name: "wrong-magic shard", args: train("--data=train.bin"), fixture: "train.bin: a shard with magic 12345",
			setup: writeFile("train.bin", shard(12345, 1, 1000, tokens(1000, 256))), code: 1, msg: "not an llm.c token shard"},
		{name: "shard version 2", args: train("--data=train.bin"), fixture: "train.bin: a version 2 shard",
			setup: writeFile("train.bin", shard(20240520, 2, 1000, tokens(1000, 256))), code: 1, msg: "unsupported llm.c shard version 2"},
		{name: "shard tokens beyond the vocabulary", args: train("--data=train.bin"), fixture: "train.bin: 4000 GPT-2 tokens up to 999",
			setup: writeFile("train.bin", shard(20240520, 1, 4000, tokens(4000, 1000))), code: 1, msg: "vocabulary is 256"},
		{name: "shard tokens past GPT-2's", args: train("--data=train.bin"), fixture: "train.bin: 9000 tokens up to 59997",
			setup: writeFile("train.bin", shard(20240520, 1, 9000, tokens(9000, 60000))), code: 1, msg: "holds token 59997, past GPT-2's ids (0 to 50256) and the model's vocabulary of 256: it was written with another tokenizer, or is damaged"},
	}
}

// runDirCases are the run directory and its checkpoint. --resume names
// what to continue: a checkpoint that is not there, or does not load, is a
// flag error.
func runDirCases(trained string) []badInput {
	return []badInput{
		{name: "resume without a checkpoint", args: train("--resume"), code: 1, msg: "--resume: run holds no checkpoint (no run/checkpoint): the run stopped before its first checkpoint (one every --save-every steps, and one at its end)"},
		{name: "resume without out", args: []string{"train", "--model=tiny", "--resume"}, code: 2, msg: "--resume needs --out"},
		{name: "out already holds a checkpoint", args: train(), fixture: trained, setup: withRun(nil), code: 2, msg: "--out run already holds a checkpoint"},
		{name: "resume at the last step", args: train("--resume", "--steps=2"), fixture: trained, setup: withRun(nil), code: 2, msg: "already at --steps 2"},
		{name: "resume past the last step", args: train("--resume", "--steps=1"), fixture: trained, setup: withRun(nil), code: 2, msg: "the checkpoint is at step 2, past --steps 1"},
		{name: "resume at the last step set by run.json", args: []string{"train", "--resume", "--out=run"}, fixture: trained, setup: withRun(nil), code: 2,
			msg: "already at --steps (set by run/run.json) 2; raise --steps to train further"},
		{name: "resume with another model", args: train("--resume", "--layers=3"), fixture: trained, setup: withRun(nil), code: 2, msg: "differs from the one asked for"},
		{name: "resume with a corrupt state", args: train("--resume"), fixture: trained + `; state.json is "{step"`,
			setup: withRun(writeFile(ckState, []byte("{step"))), code: 1, msg: "state.json: not valid JSON"},
	}
}

// sampleCases are sampling: the checkpoint must load.
func sampleCases(trained string) []badInput {
	return []badInput{
		{name: "sample without from", args: []string{"sample"}, code: 2, msg: "--from is required"},
		{name: "sample from nowhere", args: []string{"sample", "--from=nowhere"}, code: 1, msg: "nowhere: no such directory"},
		{name: "sample prompt twice", args: []string{"sample", "--from=run", "--prompt=a", "--prompt-file=p.txt"}, fixture: trained, setup: withRun(nil), code: 2,
			msg: "--prompt and --prompt-file both give the prompt"},
		{name: "sample prompt file missing", args: []string{"sample", "--from=run", "--prompt-file=p.txt"}, fixture: trained, setup: withRun(nil), code: 1,
			msg: "--prompt-file: open p.txt: no such file or directory"},
		{name: "sample negative tokens", args: []string{"sample", "--from=run", "--tokens=-1"}, fixture: trained, setup: withRun(nil), code: 2, msg: "--tokens"},
		{name: "sample missing tensor", args: []string{"sample", "--from=run"}, fixture: trained + "; ln_f.bias removed from model.safetensors",
			setup: withRun(dropTensor("ln_f.bias")), code: 1, msg: "missing tensor ln_f.bias"},
		{name: "sample wrong shape", args: []string{"sample", "--from=run"}, fixture: trained + "; wpe.weight stored as [32 16] instead of [16 32]",
			setup: withRun(reshape("wpe.weight", 32, 16)), code: 1, msg: "tensor wpe.weight has shape [32 16], want [16 32]"},
		{name: "sample wrong dtype", args: []string{"sample", "--from=run"}, fixture: trained + "; ln_f.weight rewritten as I32",
			setup: withRun(asI32("ln_f.weight")), code: 1, msg: "tensor ln_f.weight has dtype I32; baton reads F32, F16 and BF16"},
		{name: "sample truncated tensors", args: []string{"sample", "--from=run"}, fixture: trained + "; model.safetensors cut to half its size",
			setup: withRun(truncateHalf(ckModel)), code: 1, msg: "model.safetensors"},
		{name: "sample corrupt header", args: []string{"sample", "--from=run"}, fixture: trained + "; bytes 8-15 of model.safetensors (the JSON header's start) overwritten with \"garbage!\"",
			setup: withRun(overwrite(ckModel, 8, []byte("garbage!"))), code: 1, msg: "not a valid safetensors file"},
		{name: "sample corrupt header length", args: []string{"sample", "--from=run"}, fixture: trained + "; the header length of model.safetensors set to 2^40",
			setup: withRun(overwrite(ckModel, 0, binary.LittleEndian.AppendUint64(nil, 1<<40))), code: 1, msg: "header length field says 1099511627776 bytes"},
		{name: "sample missing config", args: []string{"sample", "--from=run"}, fixture: trained + "; config.json removed",
			setup: withRun(remove(ckConfig)), code: 1, msg: "config.json: missing"},
		{name: "sample config of another model", args: []string{"sample", "--from=run"}, fixture: trained + "; n_layer 3 in config.json",
			setup: withRun(configField("n_layer", 3)), code: 1, msg: "missing tensor h.2."},
	}
}

// scheduleFileCases are schedule files: read, validated and simulated
// before any device runs them.
func scheduleFileCases() []badInput {
	return []badInput{
		{name: "missing schedule file", args: train("--schedule-file=nope.csv"), code: 2, msg: "--schedule-file: open nope.csv: no such file"},
		{name: "schedule file with an unknown action", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0X0,0STEP and 1F0,1B0,1STEP",
			setup: writeFile("s.csv", []byte("0F0,0X0,0STEP\n1F0,1B0,1STEP\n")), code: 2, msg: `row 1, column 2: action "0X0": unknown kind "X"`},
		{name: "schedule file with a stage on the wrong device", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,1F0,0B0,0STEP and 1B0,1STEP",
			setup: writeFile("s.csv", []byte("0F0,1F0,0B0,0STEP\n1B0,1STEP\n")), code: 2, msg: "row 1, column 2 (1F0): stage 1 lives on device 1"},
		{name: "schedule file without a STEP", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0B0,0STEP and 1F0,1B0",
			setup: writeFile("s.csv", []byte("0F0,0B0,0STEP\n1F0,1B0\n")), code: 2, msg: "row 2: stage 1 has no STEP"},
		{name: "schedule file that deadlocks", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0B0,0F1,0B1,0STEP and 1F1,1B1,1F0,1B0,1STEP",
			setup: writeFile("s.csv", []byte("0F0,0B0,0F1,0B1,0STEP\n1F1,1B1,1F0,1B0,1STEP\n")), code: 2, msg: "deadlock, no device can progress: row 1, column 2 (0B0) waits for 1SEND_B0"},
		{name: "schedule file with a blank row", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0B0,0STEP, a blank one, and 1F0,1B0,1STEP",
			setup: writeFile("s.csv", []byte("0F0,0B0,0STEP\n\n1F0,1B0,1STEP\n")), code: 2, msg: "row 2 is blank"},
		{name: "schedule file for three devices", args: train("--schedule-file=s.csv"), fixture: "s.csv: rows 0F0,0B0,0STEP, 1F0,1B0,1STEP and 2F0,2B0,2STEP",
			setup: writeFile("s.csv", []byte("0F0,0B0,0STEP\n1F0,1B0,1STEP\n2F0,2B0,2STEP\n")), code: 2, msg: "has 3 rows, one per device, but --devices names 2"},
		{name: "schedule file beside --schedule", args: train("--schedule-file=s.csv", "--schedule=gpipe"), fixture: "s.csv: rows 0F0,0B0,0STEP and 1F0,1B0,1STEP",
			setup: writeFile("s.csv", []byte("0F0,0B0,0STEP\n1F0,1B0,1STEP\n")), code: 2, msg: "drop --schedule"},
		{name: "plan schedule file with stages not dealt over its rows", fixture: "s.csv: rows 0F0,0B0,0STEP and 1F0,1B0,1STEP,2F0,2B0,2STEP",
			args:  []string{"plan", "--model=tiny", "--devices=cpu:0,cpu:1", "--schedule-file=s.csv"},
			setup: writeFile("s.csv", []byte("0F0,0B0,0STEP\n1F0,1B0,1STEP,2F0,2B0,2STEP\n")), code: 2, msg: "stages 0..2 over 2 rows"},
	}
}

// computeCases are the commands that only compute.
func computeCases() []badInput {
	return []badInput{
		{name: "schedule unknown", args: []string{"schedule", "--schedule=zigzag"}, code: 2, msg: `unknown schedule "zigzag"`},
		{name: "schedule zero stages", args: []string{"schedule", "--stages=0"}, code: 2, msg: "--stages is 0; give the pipeline's stages, at least 1"},
		{name: "schedule zero backward cost", args: []string{"schedule", "--cost-b=0"}, code: 2, msg: "must be positive"},
		{name: "plan bad split", args: []string{"plan", "--model=tiny", "--devices=cpu:0,cpu:1", "--split=1,2"}, code: 2, msg: "sums to 3 but the model has 2 layers"},
		{name: "plan duplicate device", args: []string{"plan", "--model=tiny", "--devices=cpu:1,cpu:1"}, code: 2, msg: "cpu:1 is listed twice"},
		{name: "bench unknown precision", args: []string{"bench", "--quick", "--precision=fp32,fp16"}, code: 2, msg: `--precision "fp16": want fp32`},
		{name: "bench tag with a slash", args: []string{"bench", "--quick", "--tag=a/b"}, code: 2, msg: `--tag "a/b": use letters, digits and '-' only`},
		{name: "bench micro-batches not dividing the batch", args: []string{"bench", "--quick", "--microbatches=3"}, code: 2, msg: "--microbatches 3 does not divide --batch 8"},
		{name: "bench missing peer file", args: []string{"bench", "--quick", "--peer=peer.csv"}, code: 1, msg: "--peer: open peer.csv: no such file"},
		{name: "bench peer file of another format", args: []string{"bench", "--quick", "--peer=peer.csv"}, fixture: "peer.csv: a CSV with the header model,tokens",
			setup: writeFile("peer.csv", []byte("model,tokens\ntiny,5\n")), code: 1, msg: `--peer peer.csv: no "devices" column`},
		{name: "unknown command", args: []string{"fly"}, code: 2, msg: `unknown command "fly"`},
		{name: "completion for an unknown shell", args: []string{"completion", "tcsh"}, code: 2, msg: `unknown command "tcsh" for "baton completion"`},
	}
}

func allBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func mkdir(rel string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(filepath.Join(dir, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// observed is what a case's run did, for the doc.
type observed struct {
	code   int
	msg    string
	failed bool
}

func TestBadInput(t *testing.T) {
	cases := badInputs()
	t.Logf("%d bad-input cases", len(cases))
	got := make([]*observed, len(cases))
	t.Run("case", func(t *testing.T) {
		for i, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				o := &observed{}
				defer func() { o.failed = t.Failed(); got[i] = o }()
				dir := t.TempDir()
				if err := os.Symlink(corpus, filepath.Join(dir, "corpus.txt")); err != nil {
					t.Fatal(err)
				}
				if c.setup != nil {
					c.setup(t, dir)
				}
				before := snapshot(t, dir)
				r := baton(t, dir, c.args...)
				o.code, o.msg = r.code, strings.TrimSpace(r.stderr)
				checkBadInput(t, c, r)
				if ch := changes(before, snapshot(t, dir)); len(ch) > 0 {
					t.Errorf("a failing command wrote output: %s", strings.Join(ch, ", "))
				}
			})
		}
	})
	checkDoc(t, cases, got)
}

// checkBadInput checks the exit status and that stderr is the message alone.
func checkBadInput(t *testing.T, c badInput, r result) {
	t.Helper()
	cmdline := "baton " + strings.Join(c.args, " ")
	if r.code != c.code {
		t.Errorf("%s: exit status %d, want %d; stderr:\n%s", cmdline, r.code, c.code, r.stderr)
	}
	if !strings.Contains(r.stderr, c.msg) {
		t.Errorf("%s: stderr does not say %q:\n%s", cmdline, c.msg, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) > 2 || lines[0] == "" {
		t.Errorf("%s: stderr has %d lines, want the message on one or two:\n%s", cmdline, len(lines), r.stderr)
	}
	for _, bad := range []string{"panic", "goroutine"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("%s: stderr mentions %q:\n%s", cmdline, bad, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("%s: a failing command printed to stdout:\n%s", cmdline, r.stdout)
	}
}

const docPath = "../../docs/bad-input.md"

// checkDoc renders the catalogue and compares it with docs/bad-input.md,
// or rewrites that file with -update.
func checkDoc(t *testing.T, cases []badInput, got []*observed) {
	t.Helper()
	for _, o := range got {
		if o == nil {
			t.Logf("not comparing %s: only some cases ran", docPath)
			return
		}
	}
	doc := renderDoc(cases, got)
	if *update {
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v; create it with go test ./cmd/baton -run TestBadInput -update", err)
	}
	if string(old) != doc {
		oldLines, newLines := strings.Split(string(old), "\n"), strings.Split(doc, "\n")
		for i := range max(len(oldLines), len(newLines)) {
			var a, b string
			if i < len(oldLines) {
				a = oldLines[i]
			}
			if i < len(newLines) {
				b = newLines[i]
			}
			if a != b {
				t.Errorf("%s is out of date (rewrite it with -update); line %d is\n%s\nbut the catalogue gives\n%s", docPath, i+1, a, b)
				break
			}
		}
	}
}

func renderDoc(cases []badInput, got []*observed) string {
	var b strings.Builder
	b.WriteString(`# Bad input

What baton does with bad input. Every row is a case of ` + "`TestBadInput`" + ` (cmd/baton/badinput_test.go),
which runs the command in a fresh directory holding ` + "`corpus.txt`" + ` (about 100 KB of generated Go-like
text) and the fixture named, and checks that it exits with the status shown, that stderr is that one
message (no panic, no stack trace), that nothing is printed on stdout, and that nothing in the
directory was created, changed or removed. Exit status 2 is a bad flag or configuration, 1 anything
else (missing or corrupt data or checkpoints).

This file is generated: ` + "`go test ./cmd/baton -run TestBadInput -update`" + ` rewrites it.

`)
	cats := catalogue()
	fmt.Fprintf(&b, "%d cases, none of which panics, leaves a partial file or exits 0:\n\n| category | cases |\n| --- | ---: |\n", len(cases))
	for _, c := range cats {
		fmt.Fprintf(&b, "| %s | %d |\n", c.name, len(c.cases))
	}
	i := 0
	for _, cat := range cats {
		fmt.Fprintf(&b, "\n## %s\n\n| input | exit status | message |\n| --- | --- | --- |\n", cat.name)
		for _, c := range cat.cases {
			in := code("baton " + strings.Join(c.args, " "))
			if c.fixture != "" {
				in += "<br>" + cell(c.fixture)
			}
			msg := code(got[i].msg)
			if got[i].failed {
				msg = fmt.Sprintf("**not yet**: exits %d; see `TestBadInput/case/%s`", got[i].code, strings.ReplaceAll(c.name, " ", "_"))
			}
			fmt.Fprintf(&b, "| %s | %d | %s |\n", in, c.code, msg)
			i++
		}
	}
	return b.String()
}

// code renders s as code spans in a table cell, a line each.
func code(s string) string {
	var spans []string
	for _, l := range strings.Split(s, "\n") {
		spans = append(spans, "`"+cell(l)+"`")
	}
	return strings.Join(spans, "<br>")
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
