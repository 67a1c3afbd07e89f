// The bad-input catalogue: a resume that contradicts its run.json, a damaged run.json, and bad --config files.

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// recordCategory is the catalogue's section on the run's record.
func recordCategory() category {
	return category{"The run's record: run.json, --config, --override", recordCases("run/: a 2-step run of the tiny model")}
}

// recordCases refuse a resume flag that contradicts run.json (each
// setting a resume may not silently change), a run.json that does not
// read, and configuration files baton cannot take.
func recordCases(trained string) []badInput {
	run := withRun(nil)
	relData := trained + `; run.json's "data" is corpus.txt; other.txt a copy of it`
	cases := []badInput{
		{name: "resume with another preset", args: train("--resume", "--model=small"), fixture: trained, setup: run, code: 2, msg: "--model small contradicts run.json's tiny"},
		{name: "resume with another width", args: train("--resume", "--width=64"), fixture: trained, setup: run, code: 2, msg: "--width 64 contradicts run.json's 32"},
		{name: "resume with other heads", args: train("--resume", "--heads=2"), fixture: trained, setup: run, code: 2, msg: "--heads 2 contradicts run.json's 4"},
		{name: "resume with another context", args: train("--resume", "--context=8"), fixture: trained, setup: run, code: 2, msg: "--context 8 contradicts run.json's 16"},
		{name: "resume with another seed", args: train("--resume", "--seed=2"), fixture: trained, setup: run, code: 2, msg: "--seed 2 contradicts run.json's 1"},
		{name: "resume balancing with too few steps left", args: train("--resume", "--balance=measured"), fixture: trained, setup: run, code: 2, msg: "the run resumes at step 2, so --steps 3 leaves 1, too few; give --steps 7 or more"},
		{name: "resume overriding the seed", args: train("--resume", "--seed=2", "--override"), fixture: trained, setup: run, code: 2, msg: "drop --seed"},
		{name: "resume with other data", args: train("--resume", "--data=other.txt"), fixture: relData,
			setup: withRun(recordData("corpus.txt", "other.txt")), code: 2, msg: "--data other.txt contradicts run.json's corpus.txt; drop it, or pass --override to change it"},
		{name: "resume with another data limit", args: train("--resume", "--data-limit=50000"), fixture: trained, setup: run, code: 2, msg: "--data-limit 50000 contradicts run.json's 16777216"},
		{name: "resume with another batch", args: train("--resume", "--batch=4"), fixture: trained, setup: run, code: 2, msg: "--batch 4 contradicts run.json's 8"},
		{name: "resume with other micro-batches", args: train("--resume", "--microbatches=2"), fixture: trained, setup: run, code: 2, msg: "--microbatches 2 contradicts run.json's 4"},
		{name: "resume with another schedule", args: train("--resume", "--schedule=gpipe"), fixture: trained, setup: run, code: 2, msg: "--schedule gpipe contradicts run.json's 1f1b"},
		{name: "resume with another learning rate", args: train("--resume", "--lr=0.003"), fixture: trained, setup: run, code: 2, msg: "--lr 0.003 contradicts run.json's 0.001; drop it, or pass --override to change it"},
		{name: "resume with another final learning rate", args: train("--resume", "--min-lr=0.0002"), fixture: trained, setup: run, code: 2, msg: "--min-lr 0.0002 contradicts run.json's 0.0001"},
		{name: "resume with another warm-up", args: train("--resume", "--warmup=5"), fixture: trained, setup: run, code: 2, msg: "--warmup 5 contradicts run.json's 30"},
		{name: "resume with another weight decay", args: train("--resume", "--weight-decay=0.2"), fixture: trained, setup: run, code: 2, msg: "--weight-decay 0.2 contradicts run.json's 0.1"},
		{name: "resume with another gradient clip", args: train("--resume", "--max-grad-norm=0.5"), fixture: trained, setup: run, code: 2, msg: "--max-grad-norm 0.5 contradicts run.json's 1"},
		{name: "resume with a config that contradicts run.json", args: train("--resume", "--config=c.toml"), fixture: trained + "; c.toml: lr = 3e-3",
			setup: withRun(writeFile("c.toml", []byte("lr = 3e-3\n"))), code: 2,
			msg: "lr = 0.003 in c.toml contradicts run.json's 0.001; drop it from c.toml, or pass --override to change it"},
		{name: "resume without run.json", args: train("--resume"), fixture: trained + "; run.json removed", setup: withRun(remove("run/run.json")), code: 1,
			msg: "--resume: run/run.json is missing, so the run's settings are unknown; give them as flags (or with --config) and add --override to resume on them"},
		{name: "override without resume", args: train("--override"), code: 2, msg: "--override changes a resumed run's settings; it needs --resume"},
		{name: "resume with a corrupt run.json", args: train("--resume"), fixture: trained + `; run.json is "{"`,
			setup: withRun(writeFile("run/run.json", []byte("{"))), code: 2, msg: "--resume: run/run.json: unexpected EOF"},
		{name: "resume with an unknown field in run.json", args: train("--resume"), fixture: trained + `; run.json has a field "colour"`,
			setup: withRun(editRecord(func(r map[string]any) { r["colour"] = "blue" })), code: 2, msg: `unknown field "colour"`},
		{name: "resume with a run.json setting of another type", args: train("--resume"), fixture: trained + `; run.json's config has "lr": "fast"`,
			setup: withRun(editRecord(func(r map[string]any) { r["config"].(map[string]any)["lr"] = "fast" })), code: 2,
			msg: "--resume: run/run.json: config.lr is a JSON string where baton writes a number without quotes (edited by hand?)"},
		{name: "resume with a newer run.json", args: train("--resume"), fixture: trained + "; run.json has schema_version 99",
			setup: withRun(editRecord(func(r map[string]any) { r["schema_version"] = 99 })), code: 2, msg: "schema_version 99; this baton reads 1 to 3"},
		{name: "zero log interval", args: train("--log-every=0"), code: 2, msg: "--log-every is 0"},
	}
	return append(cases, configCases()...)
}

// configCases are configuration files baton cannot take.
func configCases() []badInput {
	return []badInput{
		{name: "missing config file", args: train("--config=nope.toml"), code: 2, msg: "--config: open nope.toml: no such file or directory"},
		{name: "config whose settings contradict each other", args: train("--config=c.toml"), fixture: `c.toml: split = "1,1" and rebalance = "auto"`,
			setup: writeFile("c.toml", []byte("split = \"1,1\"\nrebalance = \"auto\"\n")), code: 2,
			msg: "--rebalance (set by c.toml) auto chooses the split itself; drop --split (set by c.toml) and --layer-map"},
		{name: "config with an unknown TOML field", args: train("--config=c.toml"), fixture: "c.toml: lr = 0.001 and lrate = 0.002",
			setup: writeFile("c.toml", []byte("lr = 0.001\nlrate = 0.002\n")), code: 2, msg: `--config c.toml: unknown field "lrate"`},
		{name: "config with an unknown JSON field", args: train("--config=c.json"), fixture: `c.json: {"batch": 8, "batchsize": 8}`,
			setup: writeFile("c.json", []byte(`{"batch": 8, "batchsize": 8}`)), code: 2, msg: `--config c.json: unknown field "batchsize"`},
		{name: "config that is not TOML", args: train("--config=c.toml"), fixture: `c.toml: "lr: 0.001"`,
			setup: writeFile("c.toml", []byte("lr: 0.001\n")), code: 2, msg: "--config c.toml: toml:"},
		{name: "config with a word for a number", args: train("--config=c.toml"), fixture: `c.toml: lr = "fast"`,
			setup: writeFile("c.toml", []byte("lr = \"fast\"\n")), code: 2, msg: `--config c.toml: lr = "fast" is text; write a number without quotes`},
		{name: "config with a fraction for a whole number", args: train("--config=c.json"), fixture: `c.json: {"batch": 2.5}`,
			setup: writeFile("c.json", []byte(`{"batch": 2.5}`)), code: 2, msg: `--config c.json: batch = 2.5: not a whole number; write a whole number`},
		{name: "config with a word for a switch", args: train("--config=c.toml"), fixture: `c.toml: profile-layers = "yes"`,
			setup: writeFile("c.toml", []byte("profile-layers = \"yes\"\n")), code: 2, msg: `--config c.toml: profile-layers = "yes" is text; write true or false without quotes`},
		{name: "config with a second JSON object", args: train("--config=c.json"), fixture: `c.json: {"batch": 8} then {"lr": 0.5}`,
			setup: writeFile("c.json", []byte("{\"batch\": 8}\n{\"lr\": 0.5}\n")), code: 2, msg: "--config c.json: more after the first JSON object; give every setting in one object"},
		{name: "config with a JSON key twice", args: train("--config=c.json"), fixture: `c.json: {"steps": 2, "steps": 3}`,
			setup: writeFile("c.json", []byte(`{"steps": 2, "steps": 3}`)), code: 2, msg: `--config c.json: "steps" is given twice; give each setting once`},
		{name: "config with a number in quotes", args: train("--config=c.toml"), fixture: `c.toml: steps = "3"`,
			setup: writeFile("c.toml", []byte("steps = \"3\"\n")), code: 2, msg: `--config c.toml: steps = "3" is text; write a whole number without quotes`},
		{name: "config with a table for a value", args: train("--config=c.toml"), fixture: "c.toml: a table [model]",
			setup: writeFile("c.toml", []byte("[model]\nname = \"tiny\"\n")), code: 2, msg: "--config c.toml: model:"},
		{name: "config with a list inside a list", args: train("--config=c.toml"), fixture: `c.toml: devices = [["cpu:0", "cpu:1"]]`,
			setup: writeFile("c.toml", []byte("devices = [[\"cpu:0\", \"cpu:1\"]]\n")), code: 2, msg: "--config c.toml: devices: a list inside a list; give one flat list of values"},
		{name: "empty JSON config", args: train("--config=c.json"), fixture: "c.json: empty",
			setup: writeFile("c.json", nil), code: 2, msg: "--config c.json: the file is empty; give the settings as one JSON object"},
		{name: "JSON config that is an array", args: train("--config=c.json"), fixture: "c.json: [1, 2]",
			setup: writeFile("c.json", []byte("[1, 2]")), code: 2, msg: "--config c.json: the file holds a JSON array; give the settings as one JSON object"},
		{name: "JSON config with a null", args: train("--config=c.json"), fixture: `c.json: {"lr": null}`,
			setup: writeFile("c.json", []byte(`{"lr": null}`)), code: 2, msg: "--config c.json: lr is null; give it a value, or leave it out for its default"},
		{name: "JSON config with a syntax error", args: train("--config=c.json"), fixture: "c.json: a comma before the closing brace on line 3",
			setup: writeFile("c.json", []byte("{\n\"lr\": 0.1,\n}\n")), code: 2, msg: "--config c.json: line 3: invalid character '}'"},
		{name: "config of a run.json's config alone", args: train("--config=c.json"), fixture: `c.json: {"config": {"lr": 0.1}}`,
			setup: writeFile("c.json", []byte(`{"config": {"lr": 0.1}}`)), code: 2, msg: `--config c.json: a "config" object is read from a whole run.json`},
	}
}

// editRecord rewrites run/run.json through edit.
func editRecord(edit func(map[string]any)) func(t *testing.T, dir string) {
	return editJSON("run/run.json", edit)
}

// editJSON rewrites the JSON object in the file rel through edit.
func editJSON(rel string, edit func(map[string]any)) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		writeFile(rel, b)(t, dir)
	}
}

// recordData sets run.json's data to rel and writes a copy of the corpus
// as other, a file that is not the run's.
func recordData(rel, other string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		editRecord(func(r map[string]any) { r["config"].(map[string]any)["data"] = rel })(t, dir)
		copyCorpus(t, dir, other)
	}
}
