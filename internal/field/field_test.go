// Field errors rendered plain and as flags, through wrapping.

package field

import (
	"errors"
	"fmt"
	"testing"
)

func flag(f string) string { return "--" + f }

func TestRender(t *testing.T) {
	e := Errorf("microbatches", "{microbatches} %d does not divide {batch} %d; choose a divisor of %d (or change {batch})", 3, 8, 8)
	if got, want := e.Error(), "microbatches 3 does not divide batch 8; choose a divisor of 8 (or change batch)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("model: %w", e)
	if got, want := Render(wrapped, flag), "model: --microbatches 3 does not divide --batch 8; choose a divisor of 8 (or change --batch)"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	joined := errors.Join(errors.New("first"), fmt.Errorf("resume: %w", Errorf("steps", "{steps} is %d", 0)))
	if got, want := Render(joined, flag), "first\nresume: --steps is 0"; got != want {
		t.Errorf("Render(joined) = %q, want %q", got, want)
	}
	if got := Render(errors.New("plain {batch}"), flag); got != "plain {batch}" {
		t.Errorf("a plain error changed: %q", got)
	}
}

func TestArgumentsAreNotReferences(t *testing.T) {
	e := Errorf("split", "{split} %q: entry %d", "{batch}", 1)
	if got, want := Render(e, flag), `--split "{batch}": entry 1`; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

// hint is a Renderer that is not an Error: it words its own message.
type hint struct{}

func (hint) Error() string { return hint{}.Render(func(f string) string { return f }) }
func (hint) Render(name func(string) string) string {
	return "lower " + name("lr")
}

func TestWrap(t *testing.T) {
	cause := errors.New("no such directory")
	inner := Errorf("steps", "{steps} is %d: %w", 0, cause)
	e := Errorf("resume", "{resume} %s: %w", "run", inner)
	if got, want := e.Error(), "resume run: steps is 0: no such directory"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := Render(fmt.Errorf("run: %w", e), flag), "run: --resume run: --steps is 0: no such directory"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	var fe *Error
	if !errors.Is(e, cause) || !errors.As(e.Unwrap(), &fe) || fe.Field != "steps" {
		t.Errorf("Unwrap does not reach the wrapped errors: %v", e.Unwrap())
	}
	if Errorf("lr", "{lr} is %g", 0.0).Unwrap() != nil {
		t.Error("an Error that wraps nothing unwraps to an error")
	}
	if got, want := Render(fmt.Errorf("step 3: %w", hint{}), flag), "step 3: lower --lr"; got != want {
		t.Errorf("Render of a Renderer = %q, want %q", got, want)
	}
}
