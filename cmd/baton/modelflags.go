// Flags that choose a model: a preset and its overrides, shared by train and plan.

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"baton/internal/field"
	"baton/model"
)

// modelFlagNames are the flags that say the model: the preset and its overrides.
var modelFlagNames = []string{"model", "layers", "width", "heads", "context"}

type modelFlags struct {
	preset                        string
	layers, width, heads, context int
	fl                            *pflag.FlagSet // where they were added, to tell a given 0 from the default
}

func (f *modelFlags) add(fl *pflag.FlagSet) {
	f.fl = fl
	fl.StringVar(&f.preset, "model", "small", "model preset: "+strings.Join(model.PresetNames(), ", "))
	fl.IntVar(&f.layers, "layers", 0, "decoder blocks (overrides the preset)")
	fl.IntVar(&f.width, "width", 0, "channels C (overrides the preset)")
	fl.IntVar(&f.heads, "heads", 0, "attention heads (overrides the preset)")
	fl.IntVar(&f.context, "context", 0, "tokens per sequence T (default: the preset's position table)")
}

// model is the preset with the overrides applied, and its name ("custom"
// once anything is overridden).
func (f *modelFlags) model() (model.Config, string, error) {
	mc, err := model.Preset(f.preset)
	if err != nil {
		return mc, "", fmt.Errorf("--model: %w", err)
	}
	// 0 is how the flags say "the preset's": typed, it would be taken for
	// that, unseen.
	for _, o := range []struct {
		flag, what string
		v, preset  int
	}{{"layers", "decoder blocks", f.layers, mc.L}, {"width", "channels", f.width, mc.C}, {"heads", "attention heads", f.heads, mc.NH}, {"context", "tokens per sequence", f.context, mc.MaxT}} {
		if o.v == 0 && f.fl != nil && f.fl.Changed(o.flag) {
			return mc, "", field.Errorf(o.flag, "{"+o.flag+"} is 0; give the %s, at least 1, or leave {"+o.flag+"} out for the preset's %d", o.what, o.preset)
		}
	}
	name := f.preset
	if f.layers != 0 || f.width != 0 || f.heads != 0 || f.context != 0 {
		name = "custom"
	}
	mc = f.over(mc)
	return mc, name, mc.Validate()
}

// over is mc with the overrides given.
func (f *modelFlags) over(mc model.Config) model.Config {
	for _, o := range []struct {
		v   int
		dst *int
	}{{f.layers, &mc.L}, {f.width, &mc.C}, {f.heads, &mc.NH}, {f.context, &mc.MaxT}} {
		if o.v != 0 {
			*o.dst = o.v
		}
	}
	return mc
}

// onWeights is the model to ask of the weights whose model config.json
// gives as wc (err: it does not read): the zero Config, which the trainer
// takes as theirs, where the overrides agree with it or it does not read
// (loading it then says why); else theirs with the overrides, which the
// trainer refuses naming both. A --context that trainsShorter changes no
// model.
func (f *modelFlags) onWeights(wc model.Config, err error) model.Config {
	asked := f.over(wc)
	if f.trainsShorter(wc) {
		asked.MaxT = wc.MaxT
	}
	if err != nil || asked == wc {
		return model.Config{}
	}
	return asked
}

// trainsShorter says whether --context asks for sequences shorter than
// wc's positions: wc's model, trained on sequences that long (as GPT-2, of
// 1,024 positions, is fine-tuned on shorter ones).
func (f *modelFlags) trainsShorter(wc model.Config) bool { return f.context > 0 && f.context < wc.MaxT }
