// --config FILE: a run's settings from a JSON or TOML file (or a run.json), under the flags given on the command line.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"baton/internal/fsutil"
	"baton/model"
	"baton/runtime"
)

// settingKeys are the keys a configuration file may hold, in run.json's
// order: the fields of runtime.Settings, each named as its flag.
func settingKeys() []string {
	t := reflect.TypeFor[runtime.Settings]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return keys
}

// applyConfig sets every flag that path names and the command line does
// not (the command line wins), and returns the keys it set, and a note
// where it left some out: a --model given that is not the model the file
// names leaves the file's sizes, which describe that model (a run.json
// holds them all), to the preset given; a file that names no model sizes
// whichever preset is given.
func applyConfig(fl *pflag.FlagSet, path string) (set []string, note string, err error) {
	vals, dir, err := readConfig(path)
	if err != nil {
		return nil, "", err
	}
	var notes []string
	fileModel, _ := vals["model"].(string)
	otherModel := fileModel != "" && fl.Changed("model") && fileModel != fl.Lookup("model").Value.String()
	var dropped []string
	for _, k := range orderedKeys(vals) {
		v, err := flagValue(vals[k])
		if err != nil {
			return nil, "", fmt.Errorf("--config %s: %s: %v", path, k, err)
		}
		if otherModel && slices.Contains(modelFlagNames[1:], k) && !fl.Changed(k) {
			dropped = append(dropped, k)
			continue
		}
		if k == "schedule-file" && v != "" && fl.Changed("schedule") && !fl.Changed(k) {
			notes = append(notes, fmt.Sprintf("--schedule %s replaces %s's schedule-file %s", fl.Lookup("schedule").Value, path, v))
		}
		if _, text := vals[k].(string); text && valueKind(fl.Lookup(k)) != "" {
			return nil, "", fmt.Errorf("--config %s: %s = %q is text; write %s without quotes", path, k, v, valueKind(fl.Lookup(k)))
		}
		if !given(fl, vals, k) && !samePreset(fl, k, v) {
			if there := underDir(k, v, dir); there != v {
				notes = append(notes, fmt.Sprintf("%s's %s %s is relative to %s, where that run last started: reading %s", path, k, v, dir, there))
				v = there
			}
			if err := fl.Set(k, v); err != nil {
				if kind := valueKind(fl.Lookup(k)); kind != "" {
					return nil, "", fmt.Errorf("--config %s: %s = %s: not %s; write %s", path, k, v, kind, kind)
				}
				return nil, "", fmt.Errorf("--config %s: %s = %s: %v", path, k, v, err)
			}
			set = append(set, k)
		}
	}
	if len(dropped) > 0 {
		notes = append(notes, fmt.Sprintf("--model %s replaces the model of %s (%s), leaving out its %s", fl.Lookup("model").Value, path, fileModel, strings.Join(dropped, ", ")))
	}
	return set, strings.Join(notes, "; "), nil
}

// valueKind says what f takes where it is a number or a switch, which a
// configuration file writes without quotes; "" for text.
func valueKind(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64":
		return "a whole number"
	case "uint64":
		return "a whole number of at least 0"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return ""
}

// duplicateKey is the first key the JSON object raw gives twice, or "":
// encoding/json would keep the last silently, where TOML refuses it.
func duplicateKey(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "" // not an object: decoding says so
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return ""
		}
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}

// relativeFile says whether setting k is a file or directory read as the
// run starts, and v a relative path to it.
func relativeFile(k, v string) bool {
	return (k == "data" || k == "schedule-file" || k == "init-from") && v != "" && !filepath.IsAbs(v)
}

// underDir is a run.json's relative data or schedule file v (setting k)
// as it was given: under dir, the directory its run last started in, where
// that is not here and it names a file there; else v.
func underDir(k, v, dir string) string {
	if !relativeFile(k, v) || dir == "" {
		return v
	}
	if here, err := os.Getwd(); err == nil && here == dir {
		return v
	}
	if there := filepath.Join(dir, v); pathExists(there) {
		return there
	}
	return v
}

// pathExists says whether p names a file or directory, or, as --data
// takes a glob, is a pattern that matches one.
func pathExists(p string) bool {
	if _, err := os.Stat(p); err == nil {
		return true
	}
	matches, err := filepath.Glob(p)
	return err == nil && len(matches) > 0
}

// readConfig decodes a JSON (.json, or any name whose text opens with "{")
// or TOML file into its
// settings by key; a run.json gives its "config", and the directory its
// run last started in, against which its relative paths were given. A key
// that is no setting is an error naming it.
func readConfig(path string) (map[string]any, string, error) {
	raw, err := fsutil.ReadRegular(path)
	if err != nil {
		return nil, "", fmt.Errorf("--config: %v", err)
	}
	vals := map[string]any{}
	if strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) { // no TOML opens with a brace
		vals, err = decodeJSONConfig(raw)
	} else {
		_, err = toml.Decode(string(raw), &vals)
	}
	if err != nil {
		return nil, "", fmt.Errorf("--config %s: %v", path, err)
	}
	dir := ""
	if inner, ok := vals["config"].(map[string]any); ok && vals["schema_version"] != nil {
		if starts, ok := vals["starts"].([]any); ok && len(starts) > 0 {
			last, _ := starts[len(starts)-1].(map[string]any)
			dir, _ = last["dir"].(string)
		}
		vals = inner // a run's record: its settings, not its history
	}
	known := settingKeys()
	for _, k := range orderedKeys(vals) {
		switch {
		case k == "config":
			return nil, "", fmt.Errorf("--config %s: a \"config\" object is read from a whole run.json (with its \"schema_version\"); give that run.json, or the settings inside \"config\" at the top level", path)
		case !slices.Contains(known, k):
			return nil, "", fmt.Errorf("--config %s: unknown field %q; the fields are those of run.json's \"config\": %s", path, k, strings.Join(known, ", "))
		case vals[k] == nil:
			return nil, "", fmt.Errorf("--config %s: %s is null; give it a value, or leave it out for its default", path, k)
		}
	}
	return vals, dir, nil
}

// decodeJSONConfig reads a JSON configuration: one object, each key once,
// its errors said with the line they are on.
func decodeJSONConfig(raw []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New(`the file is empty; give the settings as one JSON object, such as {"steps": 100}`)
	}
	if key := duplicateKey(raw); key != "" {
		return nil, fmt.Errorf("%q is given twice; give each setting once", key)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // a seed above 2^53 stays exact
	var v any
	if err := dec.Decode(&v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("line %d: %v", 1+bytes.Count(raw[:min(syntax.Offset, int64(len(raw)))], []byte("\n")), err)
		}
		return nil, err
	}
	vals, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(`the file holds a JSON %s; give the settings as one JSON object, such as {"steps": 100}`, jsonKind(v))
	}
	if _, end := dec.Token(); end != io.EOF { // a second object would be ignored
		return nil, errors.New("more after the first JSON object; give every setting in one object")
	}
	return vals, nil
}

// jsonKind names the kind of a decoded JSON value.
func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "true or false"
	}
	return "null"
}

// orderedKeys are m's keys in run.json's order, then any unknown ones sorted.
func orderedKeys(m map[string]any) []string {
	var known, unknown []string
	for _, k := range settingKeys() {
		if _, ok := m[k]; ok {
			known = append(known, k)
		}
	}
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return append(known, unknown...)
}

// given reports whether the command line set k, or chose otherwise what
// k would set: a schedule file says the schedule, its micro-batches and
// chunks (vals, a file's or a record's settings, may name one), and
// --schedule excludes one.
func given(fl *pflag.FlagSet, vals map[string]any, k string) bool {
	switch k {
	case "schedule", "microbatches", "chunks":
		file, _ := vals["schedule-file"].(string)
		return fl.Changed(k) || fl.Changed("schedule-file") || file != ""
	case "schedule-file":
		return fl.Changed(k) || fl.Changed("schedule")
	}
	return fl.Changed(k)
}

// flagValue is a decoded value as a flag's text: lists joined by commas,
// as --devices and --split take them.
func flagValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		if f, err := v.Float64(); err == nil && strings.ContainsAny(v.String(), ".eE") {
			return flagValue(f) // as TOML reads 8.0 and 1e1
		}
		return v.String(), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatFloat(v, 'f', -1, 64), nil // 8.0 is 8 to an integer flag
		}
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			switch e.(type) {
			case []any, map[string]any, []map[string]any:
				return "", errors.New("a list inside a list; give one flat list of values")
			}
			s, err := flagValue(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%v is a %T; give a number, a string or a list", v, v)
}

// samePreset reports whether k is a size of the model that v gives as the
// --model preset already has it: setting it would only rename the model
// "custom". Without --model every size is set: it may have to agree with
// --init-from's model.
func samePreset(fl *pflag.FlagSet, k, v string) bool {
	mc, err := model.Preset(fl.Lookup("model").Value.String())
	if err != nil || !fl.Changed("model") {
		return false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return false
	}
	switch k {
	case "layers":
		return n == mc.L
	case "width":
		return n == mc.C
	case "heads":
		return n == mc.NH
	case "context":
		return n == mc.MaxT
	}
	return false
}
